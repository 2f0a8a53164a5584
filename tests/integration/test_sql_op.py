"""sql: raw SQL per phase, on every target (test_mysql_ops.py's sql
scenarios merged in).

- Each phase runs its own SQL (expand creates and fills an audit table,
  backfill and contract add rows, switch-reads makes a view), `status
  --json` follows; rollback runs the rollback SQL after expand or after
  backfill: the schema is as before expand, and expanding again works, all
  the way to contract.
- A failing statement of a sql step undoes the statements before it (exit
  3 with the server's message) and the phase is not recorded.
- A sql step without rollback SQL makes rollback refuse (exit 1, naming
  the step's file:line:column), changing nothing.
- PostgreSQL only, under traffic: the migration creates table audit with a
  `sql` step (expand), adds a column to it with add_column (a later
  operation referring to the table the sql step created), drops old_audit
  at contract and drops audit on rollback; blue writes old_audit until
  switch-reads, green writes audit (with and without the new column) from
  expand through contract. (MariaDB has no twin: its writers' scenarios are
  in test_mysql_ops.py.)

Where the databases differ the test says why (MariaDB's DDL commits by
itself, so its plan says that in_transaction does not make DDL atomic;
the schema is compared by db.snapshot() on PostgreSQL and by SHOW CREATE
TABLE on MariaDB).
"""

import pytest

from test_bad_input import pos
from mysql_scenarios import schema_snapshot
from writers import (Writer, assert_no_leftovers, assert_rows, column_info,
                     merged_expectations, run_phases)

MARKER = "_migrate_1"

MIGRATION = """
description: Move auditing to a new table
operations:
  - sql:
      expand: "CREATE TABLE audit (id bigserial PRIMARY KEY, note text NOT NULL)"
      contract: "DROP TABLE old_audit"
      rollback: "DROP TABLE audit"
  - add_column:
      table: audit
      column: source
      type: text
      default: "'old'"
      backfill: "'old'"
"""

# MariaDB cannot plan an add_column on a table that a sql step of the same
# migration creates (exit 2, tests/snapshots/mariadb/sql_then_add_column.err:
# its plan does not run the expand SQL, PostgreSQL's runs it in the plan's
# transaction): there the sql step stands alone.
SQL_MIGRATION = """
description: an audit table, filled at backfill, a view at switch-reads
operations:
  - sql:
      expand: |
        CREATE TABLE IF NOT EXISTS audit (id int PRIMARY KEY, note varchar(50));
        INSERT INTO audit VALUES (1, 'expand')
      backfill: "INSERT INTO audit VALUES (2, 'backfill')"
      switch_reads: "CREATE OR REPLACE VIEW audit_v AS SELECT id, note FROM audit"
      contract: "INSERT INTO audit VALUES (3, 'contract')"
      rollback: |
        DROP VIEW IF EXISTS audit_v;
        DROP TABLE IF EXISTS audit
"""

NO_ROLLBACK = """
description: Raw SQL that cannot be undone
operations:
  - sql:
      expand: "CREATE TABLE audit (id int PRIMARY KEY, note varchar(50) NOT NULL)"
      contract: "DROP TABLE old_audit"
"""


def make_schema(db, n=500):
    """old_audit(id, note) with n rows; {id: note}. MariaDB has neither
    bigserial nor generate_series: AUTO_INCREMENT, and its sequence engine
    numbers the rows."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE old_audit (id bigint NOT NULL AUTO_INCREMENT"
                   " PRIMARY KEY, note text NOT NULL)")
        db.execute("INSERT INTO old_audit (note) SELECT CONCAT('seed-', seq)"
                   "   FROM seq_1_to_%d" % n)
    else:
        db.execute("CREATE TABLE old_audit (id bigserial PRIMARY KEY,"
                   " note text NOT NULL)")
        db.execute("INSERT INTO old_audit (note) SELECT 'seed-' || g"
                   "   FROM generate_series(1, %d) g" % n)
    return dict(db.query("SELECT id, note FROM old_audit"))


def table_exists(db, name):
    if db.kind == "mysql":
        return name in db.tables()
    return db.query("SELECT to_regclass(%s) IS NOT NULL", (name,)) == [(True,)]


def user_tables(db):
    if db.kind == "mysql":
        return [t for t in db.tables() if t != "_migrate_history"]
    return [r[0] for r in db.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        "   AND tablename <> '_migrate_history' ORDER BY 1")]


def snapshot(db):
    """The schema a user sees: PostgreSQL's catalog snapshot, MariaDB's
    SHOW CREATE TABLE of every table with its triggers and routines."""
    return schema_snapshot(db) if db.kind == "mysql" else db.snapshot()


def history_phase(db, mid=1):
    """The phase _migrate_history records for migration mid (None without
    the table or the row)."""
    if db.history_rows() == 0:
        return None
    rows = db.query("SELECT phase FROM _migrate_history WHERE migration_id = %s",
                    (mid,))
    return rows[0][0] if rows else None


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


def blue_insert(conn, i):
    note = "blue-%d" % i
    row = conn.execute("INSERT INTO old_audit (note) VALUES (%s) RETURNING id",
                       (note,)).fetchone()
    return row[0], note


def blue_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT note FROM old_audit WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == (last,), (seen, last)
    note = "blue-u%d" % rng.randrange(10 ** 9)
    conn.execute("UPDATE old_audit SET note = %s WHERE id = %s", (note, row_id))
    return note


def green_insert(conn, i):
    note = "green-%d" % i
    if i % 2:
        # leaves the new column out: the trigger computes it ('old') during
        # the window, the default gives the same after contract
        row = conn.execute("INSERT INTO audit (note) VALUES (%s) RETURNING id",
                           (note,)).fetchone()
        return row[0], (note, "old")
    row = conn.execute("INSERT INTO audit (note, source) VALUES (%s, %s)"
                       " RETURNING id, source", (note, "green")).fetchone()
    assert row[1] == "green", row
    return row[0], (note, "green")


def green_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT note, source FROM audit WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == last, (seen, last)
    note = "green-u%d" % rng.randrange(10 ** 9)
    source = "green-%d" % rng.randrange(100)
    conn.execute("UPDATE audit SET note = %s, source = %s WHERE id = %s",
                 (note, source, row_id))
    return note, source


@pytest.mark.targets("postgres")
def test_sql_op_under_traffic(target):
    db, project = target.db, target.project
    seeded = make_schema(db)
    project.write("0001_audit.yaml", MIGRATION)
    blue = Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded)
    green = Writer(db.connect, "green", green_insert, green_update)

    def expanded():
        cols = column_info(db, "audit")
        assert {"id", "note", "source"} <= set(cols), cols
        assert table_exists(db, "old_audit")

    def switched():
        assert db.query("SELECT count(*) FROM audit WHERE source IS NULL"
                        " OR %s = 0" % MARKER) == [(0,)]

    def blue_stopped():
        exp, _ = blue.snapshot()
        assert_rows(dict(db.query("SELECT id, note FROM old_audit")), exp,
                    "note")

    def contracted():
        assert not table_exists(db, "old_audit"), \
            "contract did not run the sql step's contract SQL"
        assert {"id", "note", "source"} <= set(column_info(db, "audit"))
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50, expanded=expanded,
               switched=switched, blue_stopped=blue_stopped,
               contracted=contracted)

    expected = merged_expectations(green)
    actual = {r[0]: (r[1], r[2])
              for r in db.query("SELECT id, note, source FROM audit")}
    assert len(actual) == len(green.inserted)
    assert_rows(actual, expected, "(note, source)")


def test_sql_steps_run_in_each_phase(target):
    db, project = target.db, target.project
    project.write("0001_audit.yaml", SQL_MIGRATION)
    plan = project.ok("plan", "1").out
    assert "CREATE TABLE IF NOT EXISTS audit" in plan, plan
    if target.is_mysql:
        # MariaDB's DDL commits by itself: the step's transaction holds the
        # DML only, and the plan says so
        assert "START TRANSACTION;\nCREATE TABLE IF NOT EXISTS audit" in plan, plan
        assert "in_transaction does not make DDL atomic" in plan, plan
    step(project, "expand", "expanded")
    assert db.query("SELECT id, note FROM audit ORDER BY id") == [(1, "expand")]
    step(project, "backfill", "backfilled")
    assert db.query("SELECT COUNT(*) FROM audit") == [(2,)]
    step(project, "switch-reads", "switched")
    assert db.query("SELECT COUNT(*) FROM audit_v") == [(2,)]
    step(project, "contract", "contracted")
    assert db.query("SELECT id, note FROM audit ORDER BY id") == [
        (1, "expand"), (2, "backfill"), (3, "contract")]
    assert history_phase(db) == "contracted"


@pytest.mark.parametrize("after", ["expand", "backfill"])
def test_sql_op_rollback_runs_rollback_sql(target, after):
    db, project = target.db, target.project
    if target.is_pg:
        make_schema(db, 50)
        migration = MIGRATION
    else:
        # the sql step alone (see SQL_MIGRATION: MariaDB cannot plan the
        # add_column on the table it creates)
        migration = SQL_MIGRATION
    before = snapshot(db)
    project.write("0001_audit.yaml", migration)

    step(project, "expand", "expanded")
    assert table_exists(db, "audit")
    db.execute("INSERT INTO audit (id, note) VALUES (100, 'written in the window')")
    if after == "backfill":
        step(project, "backfill", "backfilled")
    project.ok("rollback", "1")
    assert project.phases()[1] == "pending"
    assert not table_exists(db, "audit"), "rollback SQL did not run"
    assert snapshot(db) == before
    if target.is_pg:
        assert table_exists(db, "old_audit")
    else:
        assert user_tables(db) == []

    # and it can be expanded again, all the way
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert table_exists(db, "audit")
    if target.is_pg:
        # MIGRATION's contract drops old_audit
        assert not table_exists(db, "old_audit")
    assert project.phases()[1] == "contracted"


def test_sql_failure_rolls_its_transaction_back(target):
    """in_transaction: true: a failing statement undoes the DML before it,
    with the server's message. MariaDB: exit 3 (a database error) when the
    step runs. PostgreSQL plans by running the expand SQL in a transaction
    it rolls back, so the failure is found while planning: exit 2 at the
    step's file:line:column, before anything runs."""
    db, project = target.db, target.project
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    path = project.write("0001_bad_sql.yaml", """
operations:
  - sql:
      expand: |
        INSERT INTO t VALUES (1);
        INSERT INTO no_such_table VALUES (2)
      rollback: "DELETE FROM t"
""")
    if target.is_pg:
        r = project.expect(2, "expand", "1")
        assert "0001_bad_sql.yaml:%d:%d" % pos(path.read_text(), "sql:") \
            in r.err, r.describe()
    else:
        r = project.expect(3, "expand", "1")
    assert "no_such_table" in r.err, r.describe()
    assert db.query("SELECT COUNT(*) FROM t") == [(0,)]
    assert project.phases().get(1) != "expanded"


def test_sql_op_without_rollback_sql_refuses_rollback(target):
    db, project = target.db, target.project
    make_schema(db, 50)
    path = project.write("0001_no_way_back.yaml", NO_ROLLBACK)
    body = path.read_text()
    step(project, "expand", "expanded")
    expanded = snapshot(db)

    r = project.expect(1, "rollback", "1")
    assert r.err.strip(), "a refusal must say why\n" + r.describe()
    assert "has no rollback SQL" in r.err, r.describe()
    assert "0001_no_way_back.yaml:%d:%d" % pos(body, "sql:") in r.err, r.describe()
    assert snapshot(db) == expanded, "a refused rollback changed the schema"
    assert table_exists(db, "audit")
    assert project.phases()[1] == "expanded"
