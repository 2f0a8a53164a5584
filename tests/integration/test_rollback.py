"""rollback of the rename (users.user_name -> users.username) at each point
before contract, with blue writing throughout, on every target
(test_mysql_ops.py's test_rollback_restores_the_table merged in).

After rollback the schema equals the schema before expand (PostgreSQL:
columns with type, nullability and default; indexes; constraints;
triggers, the user's own trigger kept; functions. MariaDB: SHOW CREATE
TABLE, the triggers in their order, the user's own kept, and the
routines), nothing of migrate's is left, `status --json` shows the
migration pending, every row holds what its last writer wrote in the old
column (green's writes through the new column included, and those of a
second blue that inserts as fast as it can while rollback changes the
table), and the migration can be expanded again and taken all the way to
contract.

The users table, its dependents and the writers are each database's own
(writers.py's rename writers and a plpgsql trigger on PostgreSQL;
test_mysql_ops.py's, which also insert rows leaving user_name to its
default and a trigger lower-casing emails, on MariaDB): the trigger
languages differ, and each database's scenario keeps what it checked.

PostgreSQL only: rollback after switch-reads keeps green's writes.
"""

import pytest

import mysql_scenarios as my
from writers import (RENAME_MIGRATION, Writer, assert_no_leftovers, assert_rows,
                     merged_expectations, rename_blue, rename_blue_insert,
                     rename_blue_update, rename_green, running, setup_users,
                     wait_for_ops)

SEED = 2000
MYSQL_SEED = 1000
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


def snapshot(db):
    return my.schema_snapshot(db) if db.kind == "mysql" else db.snapshot()


def no_leftovers(db):
    if db.kind == "mysql":
        my.assert_no_leftovers(db, own_triggers=("users_email_lower",))
    else:
        assert_no_leftovers(db)


def assert_rolled_back(db, project, before):
    after = snapshot(db)
    for key in before:
        assert after[key] == before[key], \
            "%s differ after rollback:\nbefore %r\nafter  %r" % (
                key, before[key], after[key])
    assert after == before
    no_leftovers(db)
    assert project.phases()[1] == "pending"
    if db.kind == "mysql":
        assert my.history_phase(db) in (None, "pending")


def forward_all(project, db, expected):
    """Expand again after the rollback and go all the way; every row ends
    with the value last written."""
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        project.ok(phase, "1")
    assert project.phases()[1] == "contracted"
    assert_rows(dict(db.query("SELECT id, username FROM users")), expected,
                "username")
    no_leftovers(db)


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


def schema_and_writers(db):
    """(seeded rows, blue, green, burst) of the database's scenario: burst
    is a second blue inserting as fast as it can."""
    if db.kind == "mysql":
        seeded = my.setup_rename_users(db, MYSQL_SEED)
        return (MYSQL_SEED, my.rename_blue(db, seeded), my.rename_green(db),
                my.my_writer(db, "blue-burst", my.rename_blue_insert,
                             my.rename_blue_update, insert_ratio=1.0,
                             sleep=(0, 0)))
    seeded = make_schema(db)
    return (SEED, rename_blue(db, seeded), rename_green(db),
            Writer(db.connect, "blue-burst", rename_blue_insert,
                   rename_blue_update, insert_ratio=1.0, sleep=(0, 0)))


@pytest.mark.both_dialects
@pytest.mark.parametrize("last_phase", ["expand", "backfill"])
def test_rollback_before_switch(target, last_phase):
    db, project = target.db, target.project
    seed, blue, green, burst = schema_and_writers(db)
    before = snapshot(db)
    project.write(FILE, RENAME_MIGRATION)

    with running(blue):
        wait_for_ops(blue, 15)
        step(project, "expand", "expanded")
        wait_for_ops(blue, 15)
        with running(green):
            wait_for_ops(green, 30)
            if last_phase == "backfill":
                step(project, "backfill", "backfilled", "--batch-size", "50")
                wait_for_ops(blue, 15)
                wait_for_ops(green, 15)
        # green is gone: back to blue only, with a second blue instance
        # inserting as fast as it can while rollback changes the table
        with running(burst):
            wait_for_ops(blue, 15)
            step(project, "rollback", "pending")
            wait_for_ops(blue, 30)     # blue keeps working after the rollback
            wait_for_ops(burst, 30)

    assert_rolled_back(db, project, before)
    expected = merged_expectations(blue, green, burst)
    assert green.inserted and blue.inserted and burst.inserted
    actual = dict(db.query("SELECT id, user_name FROM users"))
    assert len(actual) == seed + len(blue.inserted) + len(green.inserted) \
        + len(burst.inserted)
    assert_rows(actual, expected, "user_name")
    # and the migration can run again from the start, all the way
    forward_all(project, db, expected)


@pytest.mark.targets("postgres")
def test_rollback_after_switch_reads_keeps_green_writes(target):
    db, project = target.db, target.project
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
