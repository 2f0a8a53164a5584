"""add_column under traffic: orders.priority smallint, default 0, NOT NULL,
backfilled from the old row.

Blue (the old app) does not know priority: it inserts orders and updates
their note; every row blue wrote must get the computed value
(CASE WHEN total > 1000 THEN 1 ELSE 0 END), from the trigger or the backfill.
Green (the new app) sets priority itself (values 2..8, never what the
backfill would compute), and its values must never be overwritten. After
contract priority is NOT NULL with default 0.
"""

from decimal import Decimal

import psycopg
import pytest

from writers import (Writer, assert_no_leftovers, assert_rows, column_info,
                     merged_expectations, run_phases)

SEED = 3000
MARKER = "_migrate_1"

MIGRATION = """
description: Add orders.priority, computed from the total for old rows
operations:
  - add_column:
      table: orders
      column: priority
      type: smallint
      default: "0"
      nullable: false
      backfill: "CASE WHEN total > 1000 THEN 1 ELSE 0 END"
"""

COMPUTED = "CASE WHEN total > 1000 THEN 1 ELSE 0 END"


def computed(total):
    return 1 if total > 1000 else 0


def blue_insert(conn, i):
    total = Decimal((i * 37) % 2000) + Decimal("0.25")
    note = "blue-%d" % i
    row = conn.execute("INSERT INTO orders (total, note) VALUES (%s, %s)"
                       " RETURNING id", (total, note)).fetchone()
    return row[0], (note, computed(total))


def blue_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT note FROM orders WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == (last[0],), "blue reads back %r, wrote %r" % (seen, last)
    note = "blue-u%d" % rng.randrange(10 ** 9)
    conn.execute("UPDATE orders SET note = %s WHERE id = %s", (note, row_id))
    return note, last[1]


def green_insert(conn, i):
    total = Decimal((i * 53) % 2000)
    note = "green-%d" % i
    prio = 2 + i % 7
    row = conn.execute(
        "INSERT INTO orders (total, note, priority) VALUES (%s, %s, %s)"
        " RETURNING id, priority", (total, note, prio)).fetchone()
    assert row[1] == prio, row
    return row[0], (note, prio)


def green_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT note, priority FROM orders WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == last, "green reads back %r, wrote %r" % (seen, last)
    note = "green-u%d" % rng.randrange(10 ** 9)
    prio = rng.randrange(2, 9)
    conn.execute("UPDATE orders SET note = %s, priority = %s WHERE id = %s",
                 (note, prio, row_id))
    return note, prio


def test_add_column_under_traffic(db, project):
    db.execute("CREATE TABLE orders (id bigserial PRIMARY KEY,"
               " total numeric(12,2) NOT NULL, note text)")
    db.execute("INSERT INTO orders (total, note)"
               " SELECT (g * 37) %% 2000, 'seed-' || g"
               "   FROM generate_series(1, %d) g" % SEED)
    seeded = {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, note, %s FROM orders" % COMPUTED)}
    project.write("0001_add_priority.yaml", MIGRATION)

    blue = Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded)
    green = Writer(db.connect, "green", green_insert, green_update)

    def expanded():
        cols = column_info(db, "orders")
        assert "priority" in cols, cols
        assert cols["priority"][0] == "smallint", cols["priority"]
        # NOT NULL is only enforced at switch-reads: blue cannot set it
        assert cols["priority"][1] == "YES", cols["priority"]

    def backfilled():
        assert db.query("SELECT count(*) FROM orders WHERE %s = 0"
                        % MARKER) == [(0,)]

    def switched():
        assert db.query("SELECT count(*) FROM orders WHERE priority IS NULL"
                        " OR %s = 0" % MARKER) == [(0,)]
        # rows the old side produced hold the computed value
        bad = db.query("SELECT id, total, priority FROM orders"
                       " WHERE %s = 1 AND priority IS DISTINCT FROM (%s)"
                       " ORDER BY id LIMIT 10" % (MARKER, COMPUTED))
        assert bad == [], bad

    def contracted():
        cols = column_info(db, "orders")
        assert cols["priority"][1] == "NO", cols["priority"]
        default = cols["priority"][2]
        assert default is not None and default.split("::")[0].strip("'() ") \
            == "0", "priority default after contract: %r" % default
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50, expanded=expanded,
               backfilled=backfilled, switched=switched, contracted=contracted)

    expected = merged_expectations(blue, green)
    actual = {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, note, priority FROM orders")}
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "(note, priority)")

    # blue-inserted rows got the computed value (from the trigger)
    blue_rows = db.query("SELECT count(*), count(*) FILTER (WHERE priority ="
                         " (%s)) FROM orders WHERE id = ANY(%%s)" % COMPUTED,
                         (blue.inserted,))
    assert blue_rows == [(len(blue.inserted), len(blue.inserted))], blue_rows

    # the default and NOT NULL work for an insert that leaves priority out
    row = db.query("INSERT INTO orders (total, note) VALUES (5000, 'after')"
                   " RETURNING priority")
    assert row == [(0,)], row
    with pytest.raises(psycopg.errors.NotNullViolation):
        db.execute("INSERT INTO orders (total, priority) VALUES (1, NULL)")


def test_green_writes_that_look_like_none(db, project):
    """Green's writes that leave the new column as it was, or write what an
    untouched row would get: after each phase green inserts rows with a
    priority of its own and updates them leaving it as it is, updates all
    its earlier rows the same way, and before the backfill writes 0 (the
    default) into rows the backfill has not reached. Every value green
    wrote survives backfill, switch-reads and contract. (On MariaDB, where
    contract dropped its two triggers one after the other, such a row lost
    green's value: test_mysql_ops.py
    test_add_column_green_writes_between_contract_statements. Here contract
    drops the one trigger in one transaction, and an untouched row's
    priority is NULL, which green's 0 changes.)"""
    db.execute("CREATE TABLE orders (id bigserial PRIMARY KEY,"
               " total numeric(12,2) NOT NULL, note text)")
    db.execute("INSERT INTO orders (total, note)"
               " SELECT 1500, 'seed-' || g FROM generate_series(1, 4) g")
    project.write("0001_add_priority.yaml", MIGRATION)
    green = {}

    def green_writes(conn, tag):
        for total, prio in ((1500, 4), (500, 5)):
            row_id = conn.execute(
                "INSERT INTO orders (total, note, priority) VALUES (%s, %s, %s)"
                " RETURNING id", (total, tag, prio)).fetchone()[0]
            conn.execute("UPDATE orders SET note = %s, priority = %s"
                         " WHERE id = %s", (tag + "-u", prio, row_id))
            green[row_id] = (tag + "-u", prio)
        for row_id, (note, prio) in sorted(green.items()):
            note = "%s/%s" % (note.split("/")[0], tag)
            conn.execute("UPDATE orders SET note = %s WHERE id = %s",
                         (note, row_id))
            green[row_id] = (note, prio)

    project.ok("expand", "1")
    with db.connect(application_name="app/green") as conn:
        conn.execute("UPDATE orders SET priority = 0 WHERE id = 1")
        conn.execute("UPDATE orders SET note = 'g', priority = 0 WHERE id = 2")
        green.update({1: ("seed-1", 0), 2: ("g", 0)})
        green_writes(conn, "expanded")
        for command in ("backfill", "switch-reads", "contract"):
            project.ok(command, "1")
            green_writes(conn, command)
    actual = {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, note, priority FROM orders WHERE id <> 3 AND id <> 4")}
    assert_rows(actual, green, "(note, priority)")
    assert db.query("SELECT priority FROM orders WHERE id IN (3, 4)") \
        == [(1,), (1,)]
    assert_no_leftovers(db)
