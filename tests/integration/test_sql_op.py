"""sql: raw SQL per phase, and operations after it that use what it made.

The migration creates table audit with a `sql` step (expand), adds a
column to it with add_column (a later operation referring to the table the
sql step created), drops old_audit at contract and drops audit on rollback.

- Under traffic: blue writes old_audit until switch-reads, green writes
  audit (with and without the new column) from expand through contract.
- rollback runs the rollback SQL (and undoes add_column first): the schema
  is as before expand, and expanding again works.
- a sql step without rollback SQL makes rollback refuse (exit 1), changing
  nothing.
"""

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

NO_ROLLBACK = """
description: Raw SQL that cannot be undone
operations:
  - sql:
      expand: "CREATE TABLE audit (id bigserial PRIMARY KEY, note text NOT NULL)"
      contract: "DROP TABLE old_audit"
"""


def make_schema(db, n=500):
    db.execute("CREATE TABLE old_audit (id bigserial PRIMARY KEY,"
               " note text NOT NULL)")
    db.execute("INSERT INTO old_audit (note) SELECT 'seed-' || g"
               "   FROM generate_series(1, %d) g" % n)
    return dict(db.query("SELECT id, note FROM old_audit"))


def table_exists(db, name):
    return db.query("SELECT to_regclass(%s) IS NOT NULL", (name,)) == [(True,)]


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


def test_sql_op_under_traffic(db, project):
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


def test_sql_op_rollback_runs_rollback_sql(db, project):
    make_schema(db, 50)
    before = db.snapshot()
    project.write("0001_audit.yaml", MIGRATION)

    project.ok("expand", "1")
    assert table_exists(db, "audit")
    db.execute("INSERT INTO audit (note) VALUES ('written in the window')")
    project.ok("rollback", "1")
    assert not table_exists(db, "audit"), "rollback SQL did not run"
    assert table_exists(db, "old_audit")
    assert db.snapshot() == before
    assert project.phases()[1] == "pending"

    # and it can be expanded again, all the way
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert table_exists(db, "audit") and not table_exists(db, "old_audit")
    assert project.phases()[1] == "contracted"


def test_sql_op_without_rollback_sql_refuses_rollback(db, project):
    make_schema(db, 50)
    project.write("0001_audit.yaml", NO_ROLLBACK)
    project.ok("expand", "1")
    expanded = db.snapshot()

    r = project.expect(1, "rollback", "1")
    assert r.err.strip(), "a refusal must say why\n" + r.describe()
    assert db.snapshot() == expanded, "a refused rollback changed the schema"
    assert table_exists(db, "audit")
    assert project.phases()[1] == "expanded"
