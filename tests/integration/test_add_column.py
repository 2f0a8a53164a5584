"""add_column under traffic: orders.priority smallint, default 0, NOT NULL,
backfilled from the old row, on every target (test_mysql_ops.py's
test_add_column_under_traffic merged in; both MySQL dialects).

Blue (the old app) does not know priority: it inserts orders and updates
their note; every row blue wrote must get the computed value
(CASE WHEN total > 1000 THEN 1 ELSE 0 END), from the trigger or the backfill
(the rows blue writes after expand hold it at once). Green (the new app)
sets priority itself (values 2..8, never what the backfill would compute),
and its values must never be overwritten. After the backfill no row is at
marker 0 and every row holds its expected value; after switch-reads no
priority is NULL; after contract priority is NOT NULL with default 0, the
columns are id, total, note, priority, and nothing of migrate's is left.

The table's DDL, a NULL's refusal (each driver's exception) and the
nullability during the window differ per database (PostgreSQL enforces
NOT NULL only at switch-reads; MariaDB's column is NOT NULL from expand,
the trigger filling it); the writers are the same (INSERT ... RETURNING).

PostgreSQL only: green's writes that look like none
(test_green_writes_that_look_like_none; MariaDB's counterpart checks its
two contract statements one by one: test_mysql_ops.py).
"""

from decimal import Decimal

import psycopg
import pytest

import mysql_scenarios as my
from writers import (Writer, assert_no_leftovers, assert_rows, fetch,
                     merged_expectations, paused, running, wait_for_ops)

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

# a priority other than the computed one (NULLs included), in each
# database's SQL
DISTINCT = {
    "pg": "priority IS DISTINCT FROM (%s)" % COMPUTED,
    "mysql": "NOT (priority <=> (%s))" % COMPUTED,
}


def computed(total):
    return 1 if total > 1000 else 0


def blue_insert(conn, i):
    total = Decimal((i * 37) % 2000) + Decimal("0.25")
    note = "blue-%d" % i
    row = fetch(conn, "INSERT INTO orders (total, note) VALUES (%s, %s)"
                      " RETURNING id", (total, note))[0]
    return row[0], (note, computed(total))


def blue_update(conn, rng, row_id, last):
    seen = fetch(conn, "SELECT note FROM orders WHERE id = %s", (row_id,))
    assert seen == [(last[0],)], "blue reads back %r, wrote %r" % (seen, last)
    note = "blue-u%d" % rng.randrange(10 ** 9)
    fetch(conn, "UPDATE orders SET note = %s WHERE id = %s", (note, row_id))
    return note, last[1]


def green_insert(conn, i):
    total = Decimal((i * 53) % 2000)
    note = "green-%d" % i
    prio = 2 + i % 7          # never what the backfill would compute
    row = fetch(conn,
                "INSERT INTO orders (total, note, priority) VALUES (%s, %s, %s)"
                " RETURNING id, priority", (total, note, prio))[0]
    assert row[1] == prio, row
    return row[0], (note, prio)


def green_update(conn, rng, row_id, last):
    seen = fetch(conn, "SELECT note, priority FROM orders WHERE id = %s",
                 (row_id,))
    assert seen == [last], "green reads back %r, wrote %r" % (seen, last)
    note = "green-u%d" % rng.randrange(10 ** 9)
    prio = rng.randrange(2, 9)
    fetch(conn, "UPDATE orders SET note = %s, priority = %s WHERE id = %s",
          (note, prio, row_id))
    return note, prio


def make_schema(db):
    """orders(id, total, note) with SEED rows; {id: (note, computed)}."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT"
                   " PRIMARY KEY, total decimal(12,2) NOT NULL,"
                   " note varchar(100))")
        my.seed(db, "INSERT INTO orders (total, note) VALUES (%s, %s)",
                [((g * 37) % 2000, "seed-%d" % g) for g in range(1, SEED + 1)])
    else:
        db.execute("CREATE TABLE orders (id bigserial PRIMARY KEY,"
                   " total numeric(12,2) NOT NULL, note text)")
        db.execute("INSERT INTO orders (total, note)"
                   " SELECT (g * 37) %% 2000, 'seed-' || g"
                   "   FROM generate_series(1, %d) g" % SEED)
    return {r[0]: (r[1], computed(r[2])) for r in db.query(
        "SELECT id, note, total FROM orders")}


def columns(db):
    """{column: (type, is_nullable, default)} of orders, in order."""
    if db.kind == "mysql":
        return my.columns(db, "orders")
    return {r[0]: (r[1], r[2], r[3]) for r in db.query(
        "SELECT column_name, data_type, is_nullable, column_default"
        "  FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = 'orders'"
        " ORDER BY ordinal_position")}


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


@pytest.mark.both_dialects
def test_add_column_under_traffic(target):
    db, project = target.db, target.project
    seeded = make_schema(db)
    project.write("0001_add_priority.yaml", MIGRATION)
    # the pace each database's scenario was tuned for
    pace = {"sleep": (0.0005, 0.003)} if target.is_mysql else {}
    blue = Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded,
                  **pace)
    green = Writer(db.connect, "green", green_insert, green_update, **pace)
    distinct = DISTINCT[target.kind]

    def prio_of(ids):
        rows = dict(db.query("SELECT id, priority FROM orders"))
        return {k: rows.get(k) for k in ids}

    def old_side_computed():
        # rows the old side produced hold the computed value
        bad = db.query("SELECT id, total, priority FROM orders"
                       " WHERE %s = 1 AND %s ORDER BY id LIMIT 10"
                       % (MARKER, distinct))
        assert bad == [], bad

    with running(blue) as blue_run:
        wait_for_ops(blue, 15)
        step(project, "expand", "expanded")
        since = blue.mark()
        wait_for_ops(blue, 30)
        cols = columns(db)
        assert "priority" in cols, cols
        assert cols["priority"][0].startswith("smallint"), cols
        # without a default until contract
        assert cols["priority"][2] in (None, "NULL"), cols["priority"]
        if target.is_pg:
            # NOT NULL is only enforced at switch-reads: blue cannot set it
            # (MariaDB's column is NOT NULL at once, the trigger fills it)
            assert cols["priority"][:2] == ("smallint", "YES"), cols["priority"]
        with paused(blue):
            exp = merged_expectations(blue)
            recent = blue.written_since(since)
            assert recent
            # rows blue wrote after expand got the expression (the trigger)
            assert prio_of(recent) == {k: exp[k][1] for k in recent}

        with running(green):
            wait_for_ops(green, 15)
            step(project, "backfill", "backfilled", "--batch-size", "50")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            with paused(blue, green):
                assert db.query("SELECT count(*) FROM orders WHERE %s = 0"
                                % MARKER) == [(0,)]
                exp = merged_expectations(blue, green)
                # old rows hold the backfill expression, green's rows its own
                actual = {r[0]: (r[1], r[2]) for r in db.query(
                    "SELECT id, note, priority FROM orders")}
                assert_rows(actual, exp, "(note, priority)")
                old_side_computed()
            step(project, "switch-reads", "switched")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            assert db.query("SELECT count(*) FROM orders WHERE priority IS NULL"
                            " OR %s = 0" % MARKER) == [(0,)]
            old_side_computed()
            blue_run.finish()
            step(project, "contract", "contracted")
            wait_for_ops(green, 15)
            cols = columns(db)
            assert cols["priority"][1] == "NO", cols["priority"]
            default = cols["priority"][2]
            assert default is not None and default.split("::")[0].strip("'() ") \
                == "0", "priority default after contract: %r" % default
            if target.is_mysql:
                my.assert_no_leftovers(db)
            else:
                assert_no_leftovers(db)

    exp = merged_expectations(blue, green)
    actual = {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, note, priority FROM orders")}
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, exp, "(note, priority)")
    assert blue.inserted and green.inserted
    # blue-inserted rows got the computed value (from the trigger)
    got = prio_of(blue.inserted)
    want = {k: blue.expected[k][1] for k in blue.inserted}
    assert got == want, "rows blue inserted lack the computed priority"
    if target.is_pg:    # the same, judged by the server (FILTER, ANY: PostgreSQL's)
        blue_rows = db.query("SELECT count(*), count(*) FILTER (WHERE priority ="
                             " (%s)) FROM orders WHERE id = ANY(%%s)" % COMPUTED,
                             (blue.inserted,))
        assert blue_rows == [(len(blue.inserted), len(blue.inserted))], blue_rows

    cols = columns(db)
    assert list(cols) == ["id", "total", "note", "priority"], cols
    assert cols["priority"][1] == "NO", cols["priority"]
    assert (cols["priority"][2] or "").split("::")[0].strip("'") == "0", \
        cols["priority"]
    assert db.query("SELECT phase FROM _migrate_history"
                    " WHERE migration_id = 1") == [("contracted",)]
    # the default and NOT NULL work for an insert that leaves priority out
    with db.connect() as c:
        row = fetch(c, "INSERT INTO orders (total, note) VALUES (5000, 'after')"
                       " RETURNING priority")
        assert row == [(0,)], row
        if target.is_mysql:
            with pytest.raises(db.server.pymysql.err.IntegrityError) as e:
                fetch(c, "INSERT INTO orders (total, priority) VALUES (1, NULL)")
            assert e.value.args[0] == 1048, e.value
        else:
            with pytest.raises(psycopg.errors.NotNullViolation):
                fetch(c, "INSERT INTO orders (total, priority) VALUES (1, NULL)")


@pytest.mark.targets("postgres")
def test_green_writes_that_look_like_none(target):
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
    db, project = target.db, target.project
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
