"""rollback of the rename (users.user_name -> users.username) at each point
before contract, with blue writing throughout.

After rollback the schema equals the schema before expand (columns with
type, nullability and default; indexes; constraints; triggers, the user's
own trigger kept; functions), `status --json` shows the migration pending,
every row holds what its last writer wrote in the old column (green's
writes through the new column included), and the migration can be expanded
again and taken all the way to contract.
"""

import pytest

from writers import (RENAME_MIGRATION, assert_no_leftovers, assert_rows,
                     merged_expectations, rename_blue, rename_green, running,
                     setup_users, wait_for_ops)

SEED = 2000
FILE = "0001_rename_user_name.yaml"


def make_schema(db):
    seeded = setup_users(db, SEED)
    # dependents and a user trigger the rollback must leave as they were
    db.execute("ALTER TABLE users ADD COLUMN updated_at timestamptz")
    db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    db.execute("ALTER TABLE users ADD CONSTRAINT users_user_name_nonempty"
               " CHECK (length(user_name) > 0)")
    db.execute("CREATE FUNCTION users_touch() RETURNS trigger LANGUAGE plpgsql"
               " AS $$BEGIN NEW.updated_at := now(); RETURN NEW; END$$")
    db.execute("CREATE TRIGGER users_touch BEFORE INSERT OR UPDATE ON users"
               " FOR EACH ROW EXECUTE FUNCTION users_touch()")
    return seeded


def assert_rolled_back(db, project, before):
    after = db.snapshot()
    for key in before:
        assert after[key] == before[key], \
            "%s differ after rollback:\nbefore %r\nafter  %r" % (
                key, before[key], after[key])
    assert_no_leftovers(db)
    assert project.phases()[1] == "pending"


def forward_all(project, db, expected):
    """Expand again after the rollback and go all the way; every row ends
    with the value last written."""
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert project.phases()[1] == "contracted"
    assert_rows(dict(db.query("SELECT id, username FROM users")), expected,
                "username")
    assert_no_leftovers(db)


@pytest.mark.parametrize("last_phase", ["expand", "backfill"])
def test_rollback_before_switch(db, project, last_phase):
    seeded = make_schema(db)
    before = db.snapshot()
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)

    with running(blue):
        wait_for_ops(blue, 15)
        project.ok("expand", "1")
        wait_for_ops(blue, 15)
        if last_phase == "backfill":
            project.ok("backfill", "1", "--batch-size", "50")
            wait_for_ops(blue, 15)
        project.ok("rollback", "1")
        wait_for_ops(blue, 15)     # blue keeps working after the rollback

    assert_rolled_back(db, project, before)
    expected = merged_expectations(blue)
    assert_rows(dict(db.query("SELECT id, user_name FROM users")), expected,
                "user_name")
    forward_all(project, db, expected)


def test_rollback_after_switch_reads_keeps_green_writes(db, project):
    seeded = make_schema(db)
    before = db.snapshot()
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    green = rename_green(db)

    with running(blue):
        wait_for_ops(blue, 15)
        project.ok("expand", "1")
        with running(green) as green_run:
            wait_for_ops(green, 15)
            project.ok("backfill", "1", "--batch-size", "50")
            project.ok("switch-reads", "1")
            wait_for_ops(green, 30)    # green goes live, writes more
            # roll back to blue: green is stopped first
            green_run.finish()
        project.ok("rollback", "1")
        wait_for_ops(blue, 15)

    assert green.inserted and green.updates, green.report()
    assert_rolled_back(db, project, before)
    expected = merged_expectations(blue, green)
    # green's inserts and updates, made through username, are in user_name
    actual = dict(db.query("SELECT id, user_name FROM users"))
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, expected, "user_name")
    forward_all(project, db, expected)
