"""rename_column under traffic: users.user_name -> users.username, on every
target (test_mysql_ops.py's test_rename_column_lifecycle_under_traffic
merged in; both MySQL dialects).

Blue (the old app) writes user_name from before expand until after
switch-reads, a second blue inserts as fast as it can while expand runs;
green (the new app) writes username from after expand through contract. No
statement of any writer may fail. With the writers paused at each point,
blue's view (user_name) holds every row's last value, green's (username)
too for the rows written since expand, and for every row once the backfill
ran; both sides agree on every row after switch-reads; after contract only
username is left, NOT NULL, holding the last value each row's writer
wrote, nothing of migrate's is left, the history says contracted, and a
finished phase run again changes nothing.

The users table and the writers are each database's own: on PostgreSQL
writers.py's (user_name text NOT NULL); on MariaDB test_mysql_ops.py's,
with a default on the renamed column, an index on it and a BEFORE INSERT
trigger of the user's own (MySQL SQL), whose survival, and the default's
and index's move to username, that run checks. During the window
PostgreSQL's new column is nullable (blue does not set it), MariaDB's is
NOT NULL with the dual-write trigger filling it (plan's note).
"""

import psycopg
import pytest

import mysql_scenarios as my
from writers import (RENAME_MIGRATION, Writer, assert_no_leftovers, assert_rows,
                     column_info, merged_expectations, paused, rename_blue,
                     rename_blue_insert, rename_blue_update, rename_green,
                     running, setup_users, wait_for_ops)

SEED = 3000
MARKER = "_migrate_1"

# rows whose two sides disagree, in each database's SQL
DISAGREE = {
    "pg": "username IS DISTINCT FROM user_name",
    "mysql": "NOT (username <=> user_name)",
}


def schema_and_writers(db):
    """(seeded, blue, green, burst) of the database's scenario; burst is
    a second blue inserting as fast as it can."""
    if db.kind == "mysql":
        seeded = my.setup_rename_users(db)
        return (seeded, my.rename_blue(db, seeded), my.rename_green(db),
                my.my_writer(db, "blue-burst", my.rename_blue_insert,
                             my.rename_blue_update, insert_ratio=1.0,
                             sleep=(0, 0)))
    seeded = setup_users(db, SEED)
    return (seeded, rename_blue(db, seeded), rename_green(db),
            Writer(db.connect, "blue-burst", rename_blue_insert,
                   rename_blue_update, insert_ratio=1.0, sleep=(0, 0)))


def check_views(db, blue, green, since, all_copied, old_exists=True,
                others=()):
    """With the writers paused: blue's view (user_name) holds the last
    value of every row, green's too (username) for the rows written since
    expand, and for every row once all_copied. On MariaDB also the user's
    trigger lower-cased every inserted email (test_mysql_ops.py)."""
    if db.kind == "mysql":
        my.check_rename_views(db, blue, green, since, all_copied,
                              old_exists=old_exists, others=others)
        return
    with paused(blue, green, *others):
        exp = merged_expectations(blue, green, *others)
        if old_exists:
            old = dict(db.query("SELECT id, user_name FROM users"))
            assert_rows(old, exp, "user_name (blue's view)")
        new = dict(db.query("SELECT id, username FROM users"))
        assert set(new) == set(exp), "rows lost or added in green's view"
        if all_copied:
            assert_rows(new, exp, "username (green's view)")
        else:
            recent = set(green.expected) | blue.written_since(since)
            assert_rows({k: new[k] for k in recent},
                        {k: exp[k] for k in recent},
                        "username (green's view) of rows written since expand")


def columns(db):
    """{column: (type, is_nullable, default)} of users."""
    if db.kind == "mysql":
        return my.columns(db, "users")
    return column_info(db, "users")


def snapshot(db):
    return my.schema_snapshot(db) if db.kind == "mysql" else db.snapshot()


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


@pytest.mark.both_dialects
def test_rename_column_under_traffic(target):
    db, project = target.db, target.project
    seeded, blue, green, burst = schema_and_writers(db)
    project.write("0001_rename_user_name.yaml", RENAME_MIGRATION)

    with running(blue) as blue_run:
        wait_for_ops(blue, 15)
        # a second blue instance inserts as fast as it can while expand runs
        with running(burst):
            wait_for_ops(burst, 30)
            step(project, "expand", "expanded")
            since = blue.mark()
            wait_for_ops(burst, 30)
        wait_for_ops(blue, 15)
        cols = columns(db)
        assert "username" in cols and "user_name" in cols, cols
        assert MARKER in cols, cols
        assert cols["username"][0] == cols["user_name"][0], cols
        # no default until contract
        assert cols["username"][2] in (None, "NULL"), cols["username"]
        if target.is_pg:
            # the new column is nullable during the window (blue does not
            # set it; MariaDB's is NOT NULL, its trigger fills it)
            assert cols["username"][1] == "YES", cols["username"]
        else:
            coll = dict(db.admin_query(
                "SELECT column_name, collation_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = 'users'", (db.name,)))
            assert coll["username"] == coll["user_name"], coll
            assert "users_email_lower" in [t[0] for t in my.triggers(db)]
        check_views(db, blue, green, since, all_copied=False, others=(burst,))

        with running(green) as green_run:
            wait_for_ops(green, 15)
            check_views(db, blue, green, since, all_copied=False,
                        others=(burst,))
            step(project, "backfill", "backfilled", "--batch-size", "50")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            assert db.query("SELECT count(*) FROM users WHERE %s = 0"
                            % MARKER) == [(0,)], "rows left at marker 0"
            check_views(db, blue, green, since, all_copied=True,
                        others=(burst,))

            step(project, "switch-reads", "switched")
            wait_for_ops(blue, 15)
            wait_for_ops(green, 15)
            check_views(db, blue, green, since, all_copied=True,
                        others=(burst,))
            bad = db.query("SELECT id, user_name, username, %s FROM users"
                           " WHERE %s OR %s = 0 ORDER BY id LIMIT 10"
                           % (MARKER, DISAGREE[target.kind], MARKER))
            assert bad == [], "rows whose sides disagree: %r" % bad
            assert db.query("SELECT count(*) FROM users WHERE username IS NULL") \
                == [(0,)]

            blue_run.finish()      # blue is gone before contract
            check_views(db, blue, green, since, all_copied=True,
                        others=(burst,))
            step(project, "contract", "contracted")
            wait_for_ops(green, 15)
            check_views(db, blue, green, since, all_copied=True,
                        old_exists=False, others=(burst,))
            cols = columns(db)
            assert "user_name" not in cols, cols
            assert cols["username"][1] == "NO", \
                "username must be NOT NULL after contract: %r" % (cols["username"],)
            if target.is_pg:
                assert_no_leftovers(db)
        assert green_run.finished

    # after every writer stopped: nothing lost, every value as last written
    assert blue.inserted and green.inserted
    assert blue.updates and green.updates
    exp = merged_expectations(blue, green, burst)
    n = SEED + len(blue.inserted) + len(green.inserted) + len(burst.inserted)
    assert len(exp) == n
    actual = dict(db.query("SELECT id, username FROM users"))
    assert len(actual) == n
    assert_rows(actual, exp, "username")
    assert db.query("SELECT phase FROM _migrate_history"
                    " WHERE migration_id = 1") == [("contracted",)]

    if target.is_mysql:
        # the default, the index and the user's trigger moved with the column
        cols = columns(db)
        assert set(cols) == {"id", "username", "email"}, cols
        ctype, nullable, default = cols["username"]
        assert ctype == "varchar(100)", cols["username"]
        assert nullable == "NO", cols["username"]
        assert default is not None and default.strip("'") == "anon", \
            "username's default after contract: %r" % (default,)
        assert my.indexes(db, "users") == {"PRIMARY": ["id"],
                                           "users_user_name_idx": ["username"]}
        assert [t[0] for t in my.triggers(db)] == ["users_email_lower"]
        my.assert_no_leftovers(db, own_triggers=("users_email_lower",))
        # what the schema now does: the default, NOT NULL, the user's trigger
        with db.connect() as c, c.cursor() as cur:
            cur.execute("INSERT INTO users (email) VALUES ('After@Contract.ORG')")
            rid = cur.lastrowid
            cur.execute("SELECT username, email FROM users WHERE id = %s", (rid,))
            assert cur.fetchone() == ("anon", "after@contract.org")
            with pytest.raises(db.server.pymysql.err.IntegrityError) as e:
                cur.execute("INSERT INTO users (username) VALUES (NULL)")
            assert e.value.args[0] == 1048, e.value
    else:
        # NOT NULL is enforced now
        with pytest.raises(psycopg.errors.NotNullViolation):
            db.execute("INSERT INTO users (username) VALUES (NULL)")

    # re-running a finished phase is a no-op (exit 0), and nothing changes
    before = snapshot(db)
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert snapshot(db) == before
    assert project.phases()[1] == "contracted"
