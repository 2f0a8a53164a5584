"""create_index: a unique index on users(email), built concurrently.

- Under traffic: blue inserts and updates emails from before expand,
  green after it; the index is valid and unique right after expand, and
  stays so through contract; nothing is lost.
- A duplicate email makes expand refuse (exit 1) naming the duplicate key;
  after the data is fixed the rerun succeeds, dropping whatever invalid
  index the failure left and building it again.
- migrate killed (and its server session ended) while CREATE INDEX
  CONCURRENTLY waits: the invalid index left behind is dropped and rebuilt
  by the rerun.
"""

import threading
import time

from writers import (Writer, assert_no_leftovers, assert_rows,
                     merged_expectations, run_phases)

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


def make_writer(db, colour, owned=None):
    def insert(conn, i):
        email = "%s-%d@example.com" % (colour, i)
        row = conn.execute("INSERT INTO users (email, name) VALUES (%s, %s)"
                           " RETURNING id", (email, colour)).fetchone()
        return row[0], email

    def update(conn, rng, row_id, last):
        seen = conn.execute("SELECT email FROM users WHERE id = %s",
                            (row_id,)).fetchone()
        assert seen == (last,), "%s reads back %r, wrote %r" % (colour, seen, last)
        email = "%s-u%d-%d@example.com" % (colour, row_id, rng.randrange(10 ** 9))
        conn.execute("UPDATE users SET email = %s WHERE id = %s",
                     (email, row_id))
        return email

    return Writer(db.connect, colour, insert, update, owned=owned)


def test_create_index_under_traffic(db, project):
    seeded = make_schema(db)
    project.write("0001_users_email_key.yaml", MIGRATION)
    blue = make_writer(db, "blue", owned=seeded)
    green = make_writer(db, "green")

    def contracted():
        assert_index_valid(db)
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50,
               expanded=lambda: assert_index_valid(db),
               switched=lambda: assert_index_valid(db),
               contracted=contracted)

    expected = merged_expectations(blue, green)
    actual = dict(db.query("SELECT id, email FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "email")


def test_duplicate_refuses_then_rerun_rebuilds(db, project):
    make_schema(db, extra_sql="INSERT INTO users (email, name) VALUES"
                        " ('dup@example.com', 'a'), ('dup@example.com', 'b')")
    project.write("0001_users_email_key.yaml", MIGRATION)

    r = project.expect(1, "expand", "1")
    assert "dup@example.com" in r.text, \
        "the refusal must name the duplicate key\n" + r.describe()
    left = index_state(db)
    # whatever the failure left is not a usable index
    assert left in ([], [(False, True, ["email"])]), left
    assert project.phases()[1] == "pending"

    db.execute("DELETE FROM users WHERE email = 'dup@example.com'"
               " AND name = 'b'")
    project.ok("expand", "1")
    assert_index_valid(db)
    for phase in ("backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert_index_valid(db)
    assert project.phases()[1] == "contracted"


def test_killed_during_concurrent_build_rebuilds(db, project):
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
