"""drop_column under traffic: users.legacy_flag (boolean NOT NULL, down
"false"), once with DEFAULT false and once without a default (where only
the tool's `down` can fill it for green).

Blue still writes legacy_flag explicitly (true or false); green no longer
knows the column and inserts without it, which must work throughout the
window (the column gets `down`, false). Contract drops the column while
green keeps writing; no row is lost.
"""

import pytest

from writers import (Writer, assert_no_leftovers, assert_rows, column_info,
                     merged_expectations, run_phases)

SEED = 3000

MIGRATION = """
description: Drop users.legacy_flag
operations:
  - drop_column:
      table: users
      column: legacy_flag
      down: "false"
"""


def blue_insert(conn, i):
    flag = i % 3 == 0
    name = "blue-%d" % i
    row = conn.execute("INSERT INTO users (name, legacy_flag) VALUES (%s, %s)"
                       " RETURNING id, legacy_flag", (name, flag)).fetchone()
    assert row[1] is flag, row
    return row[0], (name, flag)


def blue_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT name, legacy_flag FROM users WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == last, "blue reads back %r, wrote %r" % (seen, last)
    name = "blue-u%d" % rng.randrange(10 ** 9)
    flag = rng.random() < 0.5
    conn.execute("UPDATE users SET name = %s, legacy_flag = %s WHERE id = %s",
                 (name, flag, row_id))
    return name, flag


def green_insert(conn, i):
    name = "green-%d" % i
    row = conn.execute("INSERT INTO users (name) VALUES (%s) RETURNING id",
                       (name,)).fetchone()
    return row[0], name


def green_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT name FROM users WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == (last,), "green reads back %r, wrote %r" % (seen, last)
    name = "green-u%d" % rng.randrange(10 ** 9)
    conn.execute("UPDATE users SET name = %s WHERE id = %s", (name, row_id))
    return name


@pytest.mark.parametrize("default", [" DEFAULT false", ""],
                         ids=["default_false", "no_default"])
def test_drop_column_under_traffic(db, project, default):
    db.execute("CREATE TABLE users (id bigserial PRIMARY KEY, name text,"
               " legacy_flag boolean NOT NULL%s)" % default)
    db.execute("INSERT INTO users (name, legacy_flag)"
               " SELECT 'seed-' || g, g %% 2 = 0"
               "   FROM generate_series(1, %d) g" % SEED)
    seeded = {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, name, legacy_flag FROM users")}
    project.write("0001_drop_legacy_flag.yaml", MIGRATION)

    blue = Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded)
    green = Writer(db.connect, "green", green_insert, green_update)

    def expanded():
        # the column stays until contract: blue still writes it
        assert "legacy_flag" in column_info(db, "users")

    def switched():
        assert "legacy_flag" in column_info(db, "users")
        assert db.query("SELECT count(*) FROM users WHERE legacy_flag IS NULL"
                        ) == [(0,)]

    def blue_stopped():
        # both sides agree: blue's rows hold what blue wrote, green's rows
        # hold `down` (false); green never touches legacy_flag, so its rows
        # cannot change under this check
        _, green_ids = green.snapshot()
        blue_exp, _ = blue.snapshot()
        flags = dict(db.query("SELECT id, legacy_flag FROM users"))
        wrong_green = [i for i in green_ids if flags.get(i) is not False]
        assert not wrong_green, \
            "green rows without legacy_flag = false: %r" % wrong_green[:10]
        wrong_blue = [i for i, v in blue_exp.items() if flags.get(i) != v[1]]
        assert not wrong_blue, "blue rows with a wrong legacy_flag: %r" % [
            (i, flags.get(i), blue_exp[i][1]) for i in wrong_blue[:10]]

    def contracted():
        assert "legacy_flag" not in column_info(db, "users")
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50, expanded=expanded,
               switched=switched, blue_stopped=blue_stopped,
               contracted=contracted)

    expected = {k: (v[0] if isinstance(v, tuple) else v)
                for k, v in merged_expectations(blue, green).items()}
    actual = dict(db.query("SELECT id, name FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "name")
    assert project.phases()[1] == "contracted"
