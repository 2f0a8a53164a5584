"""drop_column under traffic: users.legacy_flag (boolean NOT NULL, down
false), once with DEFAULT false and once without a default (where only
the tool's `down` can fill it for green), on every target
(test_mysql_ops.py's test_drop_column_under_traffic merged in; both MySQL
dialects).

Blue still writes legacy_flag explicitly (true or false); green no longer
knows the column and inserts without it, which must work throughout the
window (the column gets `down`, false). With the writers paused after
green starts, after switch-reads and once blue has stopped, blue's rows
hold the flag blue wrote and green's rows false. The column stays until
contract (blue still writes it); contract drops it while green keeps
writing, with MariaDB's index on it; nothing of migrate's is left and no
row is lost.

A boolean reads back as True/False from PostgreSQL and as 1/0 from
MariaDB (BOOLEAN is TINYINT(1) there): the writers write and expect each
server's own value.
"""

import pytest

import mysql_scenarios as my
from writers import (Writer, assert_no_leftovers, assert_rows, column_info,
                     fetch, merged_expectations, paused, running,
                     wait_for_ops)

SEED = 3000

MIGRATION = """
description: Drop users.legacy_flag
operations:
  - drop_column:
      table: users
      column: legacy_flag
      down: "false"
"""


def make_writers(db, seeded):
    """(blue, green) for db; flag(b) is how its server spells a boolean."""
    flag = int if db.kind == "mysql" else bool

    def blue_insert(conn, i):
        f = flag(i % 3 == 0)
        name = "blue-%d" % i
        row = fetch(conn, "INSERT INTO users (name, legacy_flag) VALUES (%s, %s)"
                          " RETURNING id, legacy_flag", (name, f))[0]
        assert row[1] == f and type(row[1]) is type(f), row
        return row[0], (name, f)

    def blue_update(conn, rng, row_id, last):
        seen = fetch(conn, "SELECT name, legacy_flag FROM users WHERE id = %s",
                     (row_id,))
        assert seen == [last], "blue reads back %r, wrote %r" % (seen, last)
        name = "blue-u%d" % rng.randrange(10 ** 9)
        f = flag(rng.random() < 0.5)
        fetch(conn, "UPDATE users SET name = %s, legacy_flag = %s WHERE id = %s",
              (name, f, row_id))
        return name, f

    def green_insert(conn, i):
        name = "green-%d" % i
        row = fetch(conn, "INSERT INTO users (name) VALUES (%s) RETURNING id",
                    (name,))[0]
        return row[0], name

    def green_update(conn, rng, row_id, last):
        seen = fetch(conn, "SELECT name FROM users WHERE id = %s", (row_id,))
        assert seen == [(last,)], "green reads back %r, wrote %r" % (seen, last)
        name = "green-u%d" % rng.randrange(10 ** 9)
        fetch(conn, "UPDATE users SET name = %s WHERE id = %s", (name, row_id))
        return name

    # the pace each database's scenario was tuned for
    pace = {"sleep": (0.0005, 0.003)} if db.kind == "mysql" else {}
    return (Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded,
                   **pace),
            Writer(db.connect, "green", green_insert, green_update, **pace))


def make_schema(db, default):
    """users(id, name, legacy_flag boolean NOT NULL<default>) with SEED
    rows (even ids true); on MariaDB with an index on the flag.
    {id: (name, flag)}."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT"
                   " PRIMARY KEY, name varchar(100),"
                   " legacy_flag boolean NOT NULL%s,"
                   " KEY users_legacy_flag_idx (legacy_flag))" % default)
        my.seed(db, "INSERT INTO users (name, legacy_flag) VALUES (%s, %s)",
                [("seed-%d" % g, g % 2) for g in range(1, SEED + 1)])
    else:
        db.execute("CREATE TABLE users (id bigserial PRIMARY KEY, name text,"
                   " legacy_flag boolean NOT NULL%s)" % default)
        db.execute("INSERT INTO users (name, legacy_flag)"
                   " SELECT 'seed-' || g, g %% 2 = 0"
                   "   FROM generate_series(1, %d) g" % SEED)
    return {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, name, legacy_flag FROM users")}


def columns(db):
    """users' column names in order."""
    if db.kind == "mysql":
        return list(my.columns(db, "users"))
    return [r[0] for r in db.query(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = 'users'"
        " ORDER BY ordinal_position")]


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


@pytest.mark.both_dialects
@pytest.mark.parametrize("default", [" DEFAULT false", ""],
                         ids=["default_false", "no_default"])
def test_drop_column_under_traffic(target, default):
    db, project = target.db, target.project
    seeded = make_schema(db, default)
    project.write("0001_drop_legacy_flag.yaml", MIGRATION)
    blue, green = make_writers(db, seeded)
    down = 0 if target.is_mysql else False

    def check_flags():
        """blue's rows hold what blue wrote, green's rows `down` (false);
        green never touches legacy_flag, so its rows cannot change under
        this check."""
        with paused(blue, green):
            flags = dict(db.query("SELECT id, legacy_flag FROM users"))
            blue_exp, _ = blue.snapshot()
            _, green_ids = green.snapshot()
            wrong = [k for k in green_ids
                     if flags.get(k) != down or type(flags.get(k)) is not type(down)]
            assert not wrong, "green rows without legacy_flag = false: %r" % [
                (k, flags.get(k)) for k in wrong[:10]]
            wrong = [k for k, v in blue_exp.items() if flags.get(k) != v[1]]
            assert not wrong, "blue rows with a wrong legacy_flag: %r" % [
                (k, flags.get(k), blue_exp[k][1]) for k in wrong[:10]]

    with running(blue) as blue_run:
        wait_for_ops(blue, 15)
        step(project, "expand", "expanded")
        wait_for_ops(blue, 15)
        # the column stays until contract: blue still writes it
        assert "legacy_flag" in columns(db)
        with running(green):
            wait_for_ops(green, 30)
            check_flags()
            step(project, "backfill", "backfilled", "--batch-size", "50")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            step(project, "switch-reads", "switched")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            assert "legacy_flag" in columns(db)
            assert db.query("SELECT count(*) FROM users WHERE legacy_flag IS NULL"
                            ) == [(0,)]
            check_flags()
            blue_run.finish()
            check_flags()
            step(project, "contract", "contracted")
            wait_for_ops(green, 15)
            assert "legacy_flag" not in columns(db)
            if target.is_mysql:
                my.assert_no_leftovers(db)
            else:
                assert_no_leftovers(db)
    assert green.inserted and blue.inserted

    assert columns(db) == ["id", "name"], columns(db)
    if target.is_mysql:
        assert my.indexes(db, "users") == {"PRIMARY": ["id"]}
    else:
        assert "legacy_flag" not in column_info(db, "users")
    exp = {k: (v[0] if isinstance(v, tuple) else v)
           for k, v in merged_expectations(blue, green).items()}
    actual = dict(db.query("SELECT id, name FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, exp, "name")
    assert project.phases()[1] == "contracted"
    assert db.query("SELECT phase FROM _migrate_history"
                    " WHERE migration_id = 1") == [("contracted",)]
