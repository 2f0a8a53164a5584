"""rename_column under traffic: users.user_name -> users.username.

Blue (the old app) writes user_name from before expand until after
switch-reads; green (the new app) writes username from after expand through
contract. No statement of either may fail, both sides agree on every row
after switch-reads, and after contract only username is left, NOT NULL,
holding the last value each row's writer wrote.
"""

import psycopg
import pytest

from writers import (RENAME_MIGRATION, assert_no_leftovers, assert_rows,
                     column_info, merged_expectations, rename_blue,
                     rename_green, run_phases, setup_users)

SEED = 3000
MARKER = "_migrate_1"


def test_rename_column_under_traffic(db, project):
    seeded = setup_users(db, SEED)
    project.write("0001_rename_user_name.yaml", RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    green = rename_green(db)

    def expanded():
        cols = column_info(db, "users")
        assert "username" in cols and "user_name" in cols, cols
        # the new column is nullable during the window (blue does not set it)
        assert cols["username"][1] == "YES", cols["username"]
        assert MARKER in cols, cols

    def backfilled():
        assert db.query("SELECT count(*) FROM users WHERE %s = 0"
                        % MARKER) == [(0,)]

    def switched():
        bad = db.query("SELECT id, user_name, username, %s FROM users"
                       " WHERE username IS DISTINCT FROM user_name"
                       "    OR %s = 0 ORDER BY id LIMIT 10" % (MARKER, MARKER))
        assert bad == [], "rows whose sides disagree: %r" % bad
        assert db.query("SELECT count(*) FROM users WHERE username IS NULL") \
            == [(0,)]

    def contracted():
        cols = column_info(db, "users")
        assert "user_name" not in cols, cols
        assert cols["username"][1] == "NO", \
            "username must be NOT NULL after contract: %r" % (cols["username"],)
        assert_no_leftovers(db)

    run_phases(project, 1, blue, green, batch_size=50, expanded=expanded,
               backfilled=backfilled, switched=switched, contracted=contracted)

    # after both writers stopped: nothing lost, every value as last written
    expected = merged_expectations(blue, green)
    assert len(expected) == SEED + len(blue.inserted) + len(green.inserted)
    actual = dict(db.query("SELECT id, username FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "username")
    assert green.inserted and blue.inserted
    # re-running a finished phase is a no-op (exit 0), and nothing changes
    before = db.snapshot()
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert db.snapshot() == before
    assert project.phases()[1] == "contracted"
    # NOT NULL is enforced now
    with pytest.raises(psycopg.errors.NotNullViolation):
        db.execute("INSERT INTO users (username) VALUES (NULL)")
