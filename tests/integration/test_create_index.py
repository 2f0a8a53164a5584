"""create_index, on every target (test_mysql_ops.py's index scenarios
merged in).

- Online under traffic: two indexes on orders (one unique) built at expand
  while blue inserts and updates (no write waits long), there (PostgreSQL:
  valid) right after expand, after switch-reads and after contract while
  green writes from after expand through contract; nothing is lost. The
  plan names the algorithm (PostgreSQL: CONCURRENTLY; MariaDB and the
  MySQL dialect: their ALTER and lock impact).
- rollback after expand drops the indexes (the schema is as before), and
  expand works again.
- A duplicate makes the unique build fail (exit 1) naming the duplicate
  value and the index; whatever the failure left is not a usable index;
  after the data is fixed the rerun succeeds and goes all the way.
- What the database cannot build or what does not fit the catalog is exit
  2 at the key's file:line:column, changing nothing (MariaDB cannot build
  a partial index, another method or a TEXT column without a prefix;
  PostgreSQL can, so it only has the missing column).
- PostgreSQL only: migrate killed (and its server session ended) while
  CREATE INDEX CONCURRENTLY waits: the invalid index left behind is
  dropped and rebuilt by the rerun (MariaDB builds no invalid index).
"""

import random
import threading
import time

import pytest

from test_bad_input import pos
from mysql_scenarios import assert_no_leftovers as mysql_no_leftovers
from mysql_scenarios import indexes as mysql_indexes
from mysql_scenarios import schema_snapshot, seed
from writers import (Writer, assert_no_leftovers, assert_rows, fetch,
                     merged_expectations, running, wait_for_ops)

SEED = 3000
INDEX = "users_email_key"

MIGRATION = """
description: Unique index on users.email
operations:
  - create_index:
      table: users
      name: users_email_key
      columns: [email]
      unique: true
"""


def make_schema(db, n=SEED, extra_sql=None):
    db.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text,"
               " name text)")
    db.execute("INSERT INTO users (email, name)"
               " SELECT 'seed-' || g || '@example.com', 'seed-' || g"
               "   FROM generate_series(1, %d) g" % n)
    if extra_sql:
        db.execute(extra_sql)
    return dict(db.query("SELECT id, email FROM users"))


def index_state(db, name=INDEX):
    """[(indisvalid, indisunique, indexed column names)] of indexes named
    name (empty when there is none)."""
    return db.query(
        "SELECT i.indisvalid, i.indisunique,"
        "       array_agg(a.attname ORDER BY a.attnum)::text[]"
        "  FROM pg_index i"
        "  JOIN pg_class c ON c.oid = i.indexrelid"
        "  JOIN pg_attribute a ON a.attrelid = i.indrelid"
        "                     AND a.attnum = ANY(i.indkey)"
        " WHERE c.relname = %s"
        " GROUP BY i.indexrelid, i.indisvalid, i.indisunique", (name,))


def assert_index_valid(db):
    assert index_state(db) == [(True, True, ["email"])], index_state(db)


# -- the orders table: the scenarios written for both databases ---------------

INDEX_MIGRATION = """
description: index orders by customer, and their codes unique
operations:
  - create_index:
      table: orders
      name: orders_customer_idx
      columns: [customer_id, placed]
  - create_index:
      table: orders
      name: orders_code_key
      columns: [code]
      unique: true
"""

UNIQUE_CODE = """
operations:
  - create_index:
      table: orders
      name: orders_code_key
      columns: [code]
      unique: true
"""

# the same table in each database's grammar
ORDERS_DDL = {
    "mysql": """
CREATE TABLE orders (
    id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id int NOT NULL,
    placed datetime NOT NULL,
    code varchar(40) NOT NULL
) ENGINE=InnoDB
""",
    "pg": """
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL,
    placed timestamp NOT NULL,
    code varchar(40) NOT NULL
)
""",
}


def setup_orders(db, n):
    db.execute(ORDERS_DDL[db.kind])
    if db.kind == "mysql":
        seed(db, "INSERT INTO orders (customer_id, placed, code)"
                 " VALUES (%s, '2024-01-01 00:00:00', %s)",
             [(g % 500, "seed-%d" % g) for g in range(1, n + 1)])
    else:
        db.execute("INSERT INTO orders (customer_id, placed, code)"
                   " SELECT g %% 500, '2024-01-01 00:00:00', 'seed-' || g"
                   "   FROM generate_series(1, %d) g" % n)
    return dict(db.query("SELECT id, code FROM orders"))


def indexes(db, table):
    """{index name: [columns in order]} of table's valid indexes (on
    PostgreSQL an index a failed concurrent build left invalid is not
    one: index_state shows it)."""
    if db.kind == "mysql":
        return mysql_indexes(db, table)
    out = {}
    for name, col in db.query(
            "SELECT c.relname, a.attname FROM pg_index i"
            "  JOIN pg_class c ON c.oid = i.indexrelid"
            "  JOIN pg_attribute a ON a.attrelid = i.indrelid"
            "   AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisvalid"
            " ORDER BY c.relname, array_position(i.indkey, a.attnum)", (table,)):
        out.setdefault(name, []).append(col)
    return out


def snapshot(db):
    """The schema a user sees: PostgreSQL's catalog snapshot, MariaDB's
    SHOW CREATE TABLE of every table with its triggers and routines."""
    return schema_snapshot(db) if db.kind == "mysql" else db.snapshot()


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


def order_writer(db, colour, owned=None, **kw):
    """A writer of orders: inserts rows with a code of its own, updates the
    code and the customer of rows it owns (INSERT ... RETURNING on both
    servers)."""
    def insert(conn, i):
        code = "%s-%d-%d" % (colour, i, random.randrange(10 ** 9))
        row = fetch(conn, "INSERT INTO orders (customer_id, placed, code)"
                          " VALUES (%s, NOW(), %s) RETURNING id",
                    (i % 500, code))[0]
        return row[0], code

    def update(conn, rng, row_id, last):
        seen = fetch(conn, "SELECT code FROM orders WHERE id = %s", (row_id,))
        assert seen == [(last,)], "%s reads back %r, wrote %r" % (colour, seen, last)
        code = "%s-u%d-%d" % (colour, row_id, rng.randrange(10 ** 12))
        fetch(conn, "UPDATE orders SET code = %s, customer_id = customer_id + 1"
                    " WHERE id = %s", (code, row_id))
        return code

    return Writer(db.connect, colour, insert, update, owned=owned, **kw)


def assert_indexes_built(db):
    """Both indexes are there with their columns; on PostgreSQL valid, the
    code's unique; on MariaDB the code's unique."""
    got = indexes(db, "orders")
    assert got.get("orders_customer_idx") == ["customer_id", "placed"], got
    assert got.get("orders_code_key") == ["code"], got
    if db.kind == "mysql":
        unique = db.admin_query(
            "SELECT non_unique FROM information_schema.statistics"
            " WHERE table_schema = %s AND index_name = 'orders_code_key'",
            (db.name,))
        assert unique == [(0,)], unique
    else:
        assert index_state(db, "orders_code_key") == [(True, True, ["code"])], \
            index_state(db, "orders_code_key")
        assert index_state(db, "orders_customer_idx") == [
            (True, False, ["customer_id", "placed"])], \
            index_state(db, "orders_customer_idx")


@pytest.mark.both_dialects
def test_create_index_online_under_traffic(target):
    """Both indexes (one unique) are built at expand while blue inserts and
    updates the table (no error, no write waits long: online), and are
    there (PostgreSQL: valid) right after expand, after switch-reads and
    after contract, while green writes from after expand through
    contract; nothing is lost and nothing of migrate's is left. The plan
    names the algorithm and (MariaDB) the lock impact."""
    db, project = target.db, target.project
    seeded = setup_orders(db, 20000)
    project.write("0001_index_orders.yaml", INDEX_MIGRATION)
    plan = project.ok("plan", "1").out
    if project.dialect == "mariadb":
        assert ("ALTER TABLE `orders` ADD INDEX IF NOT EXISTS `orders_customer_idx`"
                " (`customer_id`, `placed`), ALGORITHM=NOCOPY, LOCK=NONE;") in plan, plan
        assert ("ALTER TABLE `orders` ADD UNIQUE INDEX IF NOT EXISTS `orders_code_key`"
                " (`code`), ALGORITHM=NOCOPY, LOCK=NONE;") in plan, plan
        assert "DROP INDEX IF EXISTS `orders_code_key`" in plan, plan
    elif project.dialect == "mysql8":
        # MySQL: a catalog guard instead of IF NOT EXISTS, no NOCOPY
        assert ("'ADD INDEX `orders_customer_idx` (`customer_id`, `placed`)', NULL)"
                in plan), plan
        assert "'ADD UNIQUE INDEX `orders_code_key` (`code`)', NULL)" in plan, plan
        assert "CONCAT('ALTER TABLE `orders` ', @_mg_sql, ', ALGORITHM=INPLACE, LOCK=NONE')" in plan, plan
        assert "'DROP INDEX `orders_code_key`', NULL)" in plan, plan
        assert "NOCOPY" not in plan, plan
    else:
        # PostgreSQL builds without blocking writes: CONCURRENTLY
        assert "CREATE UNIQUE INDEX CONCURRENTLY" in plan, plan
    if target.is_mysql:
        assert "short exclusive metadata lock at its start and at its end" in plan, plan

    # the pace each database's scenario was tuned for
    pace = {"sleep": (0.0005, 0.002)} if target.is_mysql else {}
    blue = order_writer(db, "blue", owned=seeded, **pace)
    green = order_writer(db, "green", **pace)
    with running(blue) as blue_run:
        wait_for_ops(blue, 30)
        t0 = time.monotonic()
        step(project, "expand", "expanded")
        t1 = time.monotonic()
        wait_for_ops(blue, 30)
        during = [lat for start, lat, _ in blue.latencies if t0 <= start <= t1]
        assert during, "the writer did nothing while the indexes were built"
        # online: no write waited for the build (metadata locks are brief)
        assert max(during) < 2.0, sorted(during)[-5:]
        assert_indexes_built(db)
        with running(green):
            wait_for_ops(green, 15)
            step(project, "backfill", "backfilled", "--batch-size", "50")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            step(project, "switch-reads", "switched")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            assert_indexes_built(db)
            blue_run.finish()      # blue is retired before contract
            step(project, "contract", "contracted")
            wait_for_ops(green, 15)
            assert_indexes_built(db)
            if target.is_mysql:
                mysql_no_leftovers(db)
            else:
                assert_no_leftovers(db)

    expected = merged_expectations(blue, green)
    actual = dict(db.query("SELECT id, code FROM orders"))
    assert len(actual) == 20000 + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "code")
    primary = "PRIMARY" if target.is_mysql else "orders_pkey"
    assert set(indexes(db, "orders")) == {primary, "orders_customer_idx",
                                          "orders_code_key"}
    assert db.query("SELECT phase FROM _migrate_history"
                    " WHERE migration_id = 1") == [("contracted",)]


@pytest.mark.both_dialects
def test_create_index_rollback_drops_it(target):
    db, project = target.db, target.project
    setup_orders(db, 200)
    before = snapshot(db)
    project.write("0001_index_orders.yaml", INDEX_MIGRATION)
    step(project, "expand", "expanded")
    assert "orders_code_key" in indexes(db, "orders")
    project.ok("rollback", "1")
    assert project.phases().get(1) == "pending"
    assert snapshot(db) == before
    # and again: expand is repeatable after a rollback
    step(project, "expand", "expanded")
    assert "orders_customer_idx" in indexes(db, "orders")


@pytest.mark.both_dialects
def test_unique_index_duplicate_fails_naming_the_value(target):
    """A duplicate makes the unique build fail with exit 1 and the server's
    message naming the value; what the failure left is not a usable index,
    and expand succeeds once the duplicate is removed, all the way to
    contract."""
    db, project = target.db, target.project
    setup_orders(db, 500)
    db.execute("UPDATE orders SET code = 'twice-42' WHERE id IN (7, 300)")
    project.write("0001_unique_code.yaml", UNIQUE_CODE)
    before = snapshot(db)
    r = project.expect(1, "expand", "1")
    assert "twice-42" in r.err, \
        "the refusal must name the duplicate key\n" + r.describe()
    assert "orders_code_key" in r.err, r.describe()
    assert "orders_code_key" not in indexes(db, "orders")
    assert project.phases()[1] == "pending"
    if target.is_mysql:
        assert "Duplicate entry 'twice-42'" in r.err, r.describe()
        assert "remove the duplicates" in r.err, r.describe()
        # MariaDB's failed ALTER leaves nothing
        assert snapshot(db) == before, "the failed build left something"
        mysql_no_leftovers(db)
    else:
        # a failed CREATE INDEX CONCURRENTLY may leave an invalid index,
        # which the rerun drops; whatever is left is not usable
        left = index_state(db, "orders_code_key")
        assert left in ([], [(False, True, ["code"])]), left
    db.execute("UPDATE orders SET code = 'once-42' WHERE id = 300")
    step(project, "expand", "expanded")
    assert indexes(db, "orders")["orders_code_key"] == ["code"]
    if target.is_pg:
        assert index_state(db, "orders_code_key") == [(True, True, ["code"])]
    for phase, state in (("backfill", "backfilled"),
                         ("switch-reads", "switched"),
                         ("contract", "contracted")):
        step(project, phase, state)
    assert indexes(db, "orders")["orders_code_key"] == ["code"]


INDEX_BAD = {
    "partial_index": ("""
        operations:
          - create_index:
              table: orders
              name: orders_code_idx
              columns: [code]
              where: "code IS NOT NULL"
        """, '"code IS NOT NULL"', "partial index"),
    "hash_method": ("""
        operations:
          - create_index:
              table: orders
              name: orders_code_idx
              columns: [code]
              method: hash
        """, "hash", "InnoDB builds B-tree indexes only"),
    "missing_column": ("""
        operations:
          - create_index:
              table: orders
              name: orders_code_idx
              columns: [code, nope]
        """, "[code, nope]", "column 'nope'"),
    "text_column": ("""
        operations:
          - create_index:
              table: orders
              name: orders_note_idx
              columns: [note]
        """, "[note]", "only a prefix"),
    "name_taken": ("""
        operations:
          - create_index:
              table: orders
              name: orders_placed_idx
              columns: [code]
        """, "create_index", "already exists"),
}


# PostgreSQL builds partial and hash indexes and indexes whole text
# columns; it plans an index whose name exists (a v0.11.0 behaviour the
# plan snapshots record: create_index_name_exists): only the missing
# column is refused on both.
@pytest.mark.target_cases("case", {"pg": ["missing_column"],
                                   "mysql": sorted(INDEX_BAD)})
def test_create_index_refused_with_position(target, case):
    """What the database cannot build (MariaDB: a partial index, another
    method, a TEXT column without a prefix) and what does not fit the
    catalog is exit 2 at the key's file:line:column, and changes nothing."""
    db, project = target.db, target.project
    setup_orders(db, 50)
    if target.is_mysql:
        db.execute("ALTER TABLE orders ADD COLUMN note text NULL,"
                   " ADD INDEX orders_placed_idx (placed)")
    else:
        db.execute("ALTER TABLE orders ADD COLUMN note text NULL")
        db.execute("CREATE INDEX orders_placed_idx ON orders (placed)")
    text, needle, words = INDEX_BAD[case]
    if target.is_pg:
        # PostgreSQL's driver points at the operation, not at its column
        # list (as v0.11.0 did: this refactor changes no message)
        needle = "create_index"
    path = project.write("0001_bad_index.yaml", text)
    body = path.read_text()
    before = snapshot(db)
    for args in (("plan", "1"), ("expand", "1")):
        r = project.expect(2, *args)
        where = "0001_bad_index.yaml:%d:%d" % pos(body, needle)
        assert where in r.err, "expected %s\n" % where + r.describe()
        assert words in r.err, r.describe()
    assert snapshot(db) == before
    assert db.history_rows() == 0
    assert project.phases().get(1) == "pending"


@pytest.mark.targets("postgres")
def test_killed_during_concurrent_build_rebuilds(target):
    db, project = target.db, target.project
    make_schema(db)
    project.write("0001_users_email_key.yaml", MIGRATION)

    # A statement running in the same database makes CREATE INDEX
    # CONCURRENTLY wait for it (older snapshots) after the index is in the
    # catalog but before it is marked valid.
    sleeper = db.connect(application_name="sleeper")

    def sleep():
        try:
            sleeper.execute("SELECT pg_sleep(8)")
        except Exception:  # noqa: BLE001 - cancelled below, as intended
            pass

    t = threading.Thread(target=sleep, daemon=True)
    t.start()
    time.sleep(0.2)

    p = project.popen("expand", "1")
    backend = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and p.poll() is None:
        rows = db.query(
            "SELECT a.pid FROM pg_stat_activity a"
            " WHERE a.query ILIKE '%%create%%index%%concurrently%%'"
            "   AND a.pid <> pg_backend_pid()"
            "   AND EXISTS (SELECT 1 FROM pg_class c JOIN pg_index i"
            "               ON i.indexrelid = c.oid"
            "               WHERE c.relname = %s AND NOT i.indisvalid)",
            (INDEX,))
        if rows:
            backend = rows[0][0]
            break
        time.sleep(0.02)
    assert backend is not None and p.poll() is None, \
        "the concurrent build was never seen waiting (expand exit %r)\n%s" % (
            p.poll(), "".join(p.communicate()) if p.poll() is not None else "")
    # the crash: the process dies and its server session with it
    p.kill()
    p.communicate()
    with db.admin() as a:
        a.execute("SELECT pg_terminate_backend(%s)", (backend,))
        a.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                  " WHERE application_name = 'sleeper'")
    t.join(10)
    assert index_state(db) == [(False, True, ["email"])], index_state(db)

    project.ok("expand", "1")
    assert_index_valid(db)
    for phase in ("backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert_index_valid(db)


NAME_TAKEN = """
description: An index on users.email under a name already in use
operations:
  - create_index:
      table: users
      name: {name}
      columns: [email]
"""


def _refused_and_unchanged(db, project, name, message):
    before = db.snapshot()
    project.write("0001_idx.yaml", NAME_TAKEN.format(name=name))
    for command in ("plan", "expand"):
        r = project.expect(2, command)
        assert message in r.err, r.describe()
        assert "0001_idx.yaml:3:5" in r.err, r.describe()
    assert db.snapshot() == before
    assert db.history_rows() == 0


def test_name_of_another_index_on_the_table_is_refused(db, project):
    """v0.11.0 accepted it: CREATE INDEX CONCURRENTLY IF NOT EXISTS skipped
    the build and rollback dropped the user's own index (like MySQL now:
    exit 2, nothing changed)."""
    db.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text, email text)")
    db.execute("CREATE INDEX users_email_idx ON users (name)")
    _refused_and_unchanged(db, project, "users_email_idx",
                           "an index named 'users_email_idx' already exists on "
                           "\"public\".\"users\", with another definition")


def test_name_of_an_index_on_another_table_is_refused(db, project):
    db.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text, email text)")
    db.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, email text)")
    db.execute("CREATE INDEX users_email_idx ON accounts (email)")
    _refused_and_unchanged(db, project, "users_email_idx",
                           "an index named 'users_email_idx' already exists on accounts")


def test_name_of_a_table_is_refused(db, project):
    db.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text, email text)")
    db.execute("CREATE TABLE users_email_idx (id bigint)")
    _refused_and_unchanged(db, project, "users_email_idx",
                           "the name 'users_email_idx' is taken in schema \"public\" "
                           "by a relation that is not an index")


def test_same_index_already_built_is_accepted(db, project):
    """The index this migration builds, already there (an expand whose plan
    was not kept): planned, and expand finds it built."""
    db.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text, email text)")
    db.execute("CREATE INDEX users_email_idx ON users (email)")
    project.write("0001_idx.yaml", NAME_TAKEN.format(name="users_email_idx"))
    project.ok("plan")
    project.ok("expand")
