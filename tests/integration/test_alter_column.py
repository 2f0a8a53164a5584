"""alter_column under traffic: users.age integer -> users.age_years bigint,
on every target (test_mysql_ops.py's test_alter_column_under_traffic
merged in; both MySQL dialects).

Blue writes age (integer, sometimes NULL), green writes age_years (bigint,
sometimes NULL, always within integer range so `down` can carry it back).
With the writers paused at each point, blue's view (age) holds every row's
last value, and green's (age_years) too for the rows written since expand,
and for every row after backfill. After backfill no row is at marker 0;
after switch-reads every row satisfies age_years = age (NULLs included);
after contract only age_years is left, bigint (a value beyond integer range
fits), nothing of migrate's is left, the history says contracted, and each
row holds what its last writer wrote. On MariaDB the index on age follows
the column under its own name.

The `up`/`down` expressions are each database's SQL (a cast's spelling
differs), and so is the table's DDL; the writers are the same (INSERT ...
RETURNING runs on both servers).
"""

import pytest

import mysql_scenarios as my
from writers import (Writer, assert_no_leftovers, assert_rows, column_info,
                     fetch, merged_expectations, paused, running,
                     wait_for_ops)

SEED = 3000
MARKER = "_migrate_1"

MIGRATION = {
    "pg": """
description: Widen users.age into users.age_years bigint
operations:
  - alter_column:
      table: users
      column: age
      to: age_years
      type: bigint
      up: "age::bigint"
      down: "age_years::integer"
""",
    "mysql": """
description: Widen users.age into users.age_years bigint
operations:
  - alter_column:
      table: users
      column: age
      to: age_years
      type: bigint
      up: "CAST(age AS SIGNED)"
      down: "age_years"
""",
}

# rows whose two sides disagree (NULLs included), or still at marker 0
DISAGREE = {
    "pg": "age_years IS DISTINCT FROM age::bigint",
    "mysql": "NOT (age_years <=> age)",
}


def pick_age(rng):
    return None if rng.random() < 0.1 else rng.randrange(0, 120)


def blue_insert(conn, i):
    age = None if i % 10 == 0 else i % 100
    row = fetch(conn, "INSERT INTO users (name, age) VALUES (%s, %s)"
                      " RETURNING id, age", ("blue-%d" % i, age))[0]
    assert row[1] == age, row
    return row[0], age


def blue_update(conn, rng, row_id, last):
    seen = fetch(conn, "SELECT age FROM users WHERE id = %s", (row_id,))
    assert seen == [(last,)], "blue reads back %r, wrote %r" % (seen, last)
    age = pick_age(rng)
    fetch(conn, "UPDATE users SET age = %s WHERE id = %s", (age, row_id))
    return age


def green_insert(conn, i):
    age = None if i % 10 == 0 else 1000 + i % 100
    row = fetch(conn, "INSERT INTO users (name, age_years) VALUES (%s, %s)"
                      " RETURNING id, age_years", ("green-%d" % i, age))[0]
    assert row[1] == age, row
    return row[0], age


def green_update(conn, rng, row_id, last):
    seen = fetch(conn, "SELECT age_years FROM users WHERE id = %s", (row_id,))
    assert seen == [(last,)], "green reads back %r, wrote %r" % (seen, last)
    age = None if rng.random() < 0.1 else rng.randrange(1000, 2 ** 31 - 1)
    fetch(conn, "UPDATE users SET age_years = %s WHERE id = %s", (age, row_id))
    return age


def make_schema(db):
    """users(id, name, age) with SEED rows (every tenth age NULL); on
    MariaDB with an index on age. {id: age}."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT"
                   " PRIMARY KEY, name varchar(100), age int,"
                   " KEY users_age_idx (age))")
        my.seed(db, "INSERT INTO users (name, age) VALUES (%s, %s)",
                [("seed-%d" % g, None if g % 10 == 0 else g % 100)
                 for g in range(1, SEED + 1)])
    else:
        db.execute("CREATE TABLE users (id bigserial PRIMARY KEY, name text,"
                   " age integer)")
        db.execute("INSERT INTO users (name, age)"
                   " SELECT 'seed-' || g,"
                   "        CASE WHEN g %% 10 = 0 THEN NULL ELSE g %% 100 END"
                   "   FROM generate_series(1, %d) g" % SEED)
    return dict(db.query("SELECT id, age FROM users"))


def types(db):
    """{column: its type} of users, as the catalog spells it (PostgreSQL:
    integer, bigint; MariaDB: int(11), bigint(20))."""
    if db.kind == "mysql":
        return {c: v[0] for c, v in my.columns(db, "users").items()}
    return {c: v[0] for c, v in column_info(db, "users").items()}


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


@pytest.mark.both_dialects
def test_alter_column_under_traffic(target):
    db, project = target.db, target.project
    seeded = make_schema(db)
    project.write("0001_widen_age.yaml", MIGRATION[target.kind])
    # the pace each database's scenario was tuned for
    pace = {"sleep": (0.0005, 0.003)} if target.is_mysql else {}
    blue = Writer(db.connect, "blue", blue_insert, blue_update, owned=seeded,
                  **pace)
    green = Writer(db.connect, "green", green_insert, green_update, **pace)

    def check_views(all_copied, since):
        with paused(blue, green):
            exp = merged_expectations(blue, green)
            old = dict(db.query("SELECT id, age FROM users"))
            assert_rows(old, exp, "age (blue's view)")
            new = dict(db.query("SELECT id, age_years FROM users"))
            keys = set(exp) if all_copied else (
                set(green.expected) | blue.written_since(since))
            assert_rows({k: new[k] for k in keys}, {k: exp[k] for k in keys},
                        "age_years (green's view)")

    with running(blue) as blue_run:
        wait_for_ops(blue, 15)
        step(project, "expand", "expanded")
        since = blue.mark()
        wait_for_ops(blue, 15)
        t = types(db)
        assert t["age_years"].startswith("bigint"), t
        assert t["age"].startswith("int"), t
        if target.is_pg:    # MariaDB spells a display width: int(11)
            assert (t["age_years"], t["age"]) == ("bigint", "integer"), t
        with running(green):
            wait_for_ops(green, 30)
            check_views(False, since)
            step(project, "backfill", "backfilled", "--batch-size", "50")
            assert db.query("SELECT count(*) FROM users WHERE %s = 0"
                            % MARKER) == [(0,)]
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            check_views(True, since)
            step(project, "switch-reads", "switched")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            check_views(True, since)
            bad = db.query("SELECT id, age, age_years, %s FROM users"
                           " WHERE %s OR %s = 0 ORDER BY id LIMIT 10"
                           % (MARKER, DISAGREE[target.kind], MARKER))
            assert bad == [], "rows whose sides disagree: %r" % bad
            blue_run.finish()
            step(project, "contract", "contracted")
            wait_for_ops(green, 15)
            t = types(db)
            assert "age" not in t, t
            assert t["age_years"].startswith("bigint"), t
            if target.is_pg:
                assert t["age_years"] == "bigint", t
            if target.is_mysql:
                my.assert_no_leftovers(db)
            else:
                assert_no_leftovers(db)

    exp = merged_expectations(blue, green)
    actual = dict(db.query("SELECT id, age_years FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, exp, "age_years")
    assert set(types(db)) == {"id", "name", "age_years"}, types(db)
    if target.is_mysql:
        assert my.indexes(db, "users") == {"PRIMARY": ["id"],
                                           "users_age_idx": ["age_years"]}
        assert my.history_phase(db) == "contracted"
    else:
        assert db.query("SELECT phase FROM _migrate_history"
                        " WHERE migration_id = 1") == [("contracted",)]
    # bigint now: a value beyond integer range fits
    db.execute("UPDATE users SET age_years = %s WHERE id = 1", (2 ** 40,))
    assert db.query("SELECT age_years FROM users WHERE id = 1") == [(2 ** 40,)]
