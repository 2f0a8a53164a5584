"""alter_column under traffic: users.age integer -> users.age_years bigint.

Blue writes age (integer, sometimes NULL), green writes age_years (bigint,
sometimes NULL, always within integer range so `down` can carry it back).
After switch-reads every row satisfies age_years = age::bigint (NULLs
included); after contract only age_years is left, bigint, holding what each
row's last writer wrote.
"""

from writers import (Writer, assert_no_leftovers, assert_rows, column_info,
                     merged_expectations, run_phases)

SEED = 3000
MARKER = "_migrate_1"

MIGRATION = """
description: Widen users.age into users.age_years bigint
operations:
  - alter_column:
      table: users
      column: age
      to: age_years
      type: bigint
      up: "age::bigint"
      down: "age_years::integer"
"""


def pick_age(rng):
    return None if rng.random() < 0.1 else rng.randrange(0, 120)


def blue_insert(conn, i):
    age = None if i % 10 == 0 else i % 100
    row = conn.execute("INSERT INTO users (name, age) VALUES (%s, %s)"
                       " RETURNING id, age", ("blue-%d" % i, age)).fetchone()
    assert row[1] == age, row
    return row[0], age


def blue_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT age FROM users WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == (last,), "blue reads back %r, wrote %r" % (seen, last)
    age = pick_age(rng)
    conn.execute("UPDATE users SET age = %s WHERE id = %s", (age, row_id))
    return age


def green_insert(conn, i):
    age = None if i % 10 == 0 else 1000 + i % 100
    row = conn.execute("INSERT INTO users (name, age_years) VALUES (%s, %s)"
                       " RETURNING id, age_years",
                       ("green-%d" % i, age)).fetchone()
    assert row[1] == age, row
    return row[0], age


def green_update(conn, rng, row_id, last):
    seen = conn.execute("SELECT age_years FROM users WHERE id = %s",
                        (row_id,)).fetchone()
    assert seen == (last,), "green reads back %r, wrote %r" % (seen, last)
    age = None if rng.random() < 0.1 else rng.randrange(1000, 2 ** 31 - 1)
    conn.execute("UPDATE users SET age_years = %s WHERE id = %s",
                 (age, row_id))
    return age


def test_alter_column_under_traffic(db, project):
    db.execute("CREATE TABLE users (id bigserial PRIMARY KEY, name text,"
               " age integer)")
    db.execute("INSERT INTO users (name, age)"
               " SELECT 'seed-' || g,"
               "        CASE WHEN g %% 10 = 0 THEN NULL ELSE g %% 100 END"
               "   FROM generate_series(1, %d) g" % SEED)
    seeded = dict(db.query("SELECT id, age FROM users"))
    project.write("0001_widen_age.yaml", MIGRATION)

    blue = Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded)
    green = Writer(db.connect, "green", green_insert, green_update)

    def expanded():
        cols = column_info(db, "users")
        assert cols["age_years"][0] == "bigint", cols
        assert cols["age"][0] == "integer", cols

    def backfilled():
        assert db.query("SELECT count(*) FROM users WHERE %s = 0"
                        % MARKER) == [(0,)]

    def switched():
        bad = db.query("SELECT id, age, age_years, %s FROM users"
                       " WHERE age_years IS DISTINCT FROM age::bigint"
                       "    OR %s = 0 ORDER BY id LIMIT 10" % (MARKER, MARKER))
        assert bad == [], "rows whose sides disagree: %r" % bad

    def contracted():
        cols = column_info(db, "users")
        assert "age" not in cols, cols
        assert cols["age_years"][0] == "bigint", cols
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50, expanded=expanded,
               backfilled=backfilled, switched=switched, contracted=contracted)

    expected = merged_expectations(blue, green)
    actual = dict(db.query("SELECT id, age_years FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "age_years")
