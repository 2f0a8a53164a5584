"""Crashes at exact points, then a rerun: the rename ends in the right state.

Test builds of migrate honour MIGRATE_FAULT=<phase>:<step> (SIGKILL right
after that step of the phase committed) and MIGRATE_FAULT=backfill:<table>:
<batch> (right after that batch committed).

The rename users.user_name -> users.username here carries dependents (an
index, a UNIQUE constraint, an inbound FK from profiles), so expand builds
indexes concurrently and switch-reads validates and adds constraints: every
phase has several steps to die after.

- for every step k of expand, switch-reads and contract (counted from
  `plan 1 --json`), on a fresh database with the writers that are alive in
  that phase: migrate dies after step k, the writers keep working in what
  the crash left, the same command run again finishes, and the migration
  goes on to contract with every row kept with its right value;
- the same for every step of rollback (after switch-reads): the schema ends
  exactly as before expand;
- backfill killed after its third batch, then resumed;
- a real kill -9 of a running backfill, then resumed;
both of these with a bigint and with a composite (text, bigint) key.
"""

import time

import pytest

from writers import (RENAME_MIGRATION, assert_no_leftovers, assert_rows,
                     merged_expectations, rename_blue, rename_green, running,
                     setup_users, wait_for_ops)

SEED = 1000
REFERENCED = 100      # users 1..100 have profiles: never renamed by blue
FILE = "0001_rename_user_name.yaml"
MARKER = "_migrate_1"
KILLED = (-9, 137)


def with_dependents(db, n=SEED):
    seeded = setup_users(db, n)
    db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    db.execute("ALTER TABLE users ADD CONSTRAINT users_user_name_key"
               " UNIQUE (user_name)")
    db.execute("CREATE TABLE profiles (id bigserial PRIMARY KEY,"
               " user_name text NOT NULL REFERENCES users (user_name))")
    db.execute("INSERT INTO profiles (user_name) SELECT user_name FROM users"
               " WHERE id <= %d" % REFERENCED)
    fixed = {k: v for k, v in seeded.items() if k <= REFERENCED}
    owned = {k: v for k, v in seeded.items() if k > REFERENCED}
    return fixed, owned


def fresh(pg_server, make_project, label, n=SEED):
    db = pg_server.new_database(label)
    fixed, owned = with_dependents(db, n)
    project = make_project(db, label)
    project.write(FILE, RENAME_MIGRATION)
    return db, project, fixed, owned


def plan_steps(pg_server, make_project, phase):
    db, project, _, _ = fresh(pg_server, make_project, "plan_" + phase, 10)
    doc = project.json("plan", "1")
    db.drop()
    [mig] = [m for m in doc["migrations"] if m["id"] == 1]
    steps = mig["phases"][phase]
    assert steps, "plan has no %s steps: %r" % (phase, mig)
    return steps


def assert_killed(r):
    assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()


def assert_sides_agree(db):
    bad = db.query("SELECT id, user_name, username, %s FROM users"
                   " WHERE %s = 0 OR username IS DISTINCT FROM user_name"
                   " ORDER BY id LIMIT 10" % (MARKER, MARKER))
    assert bad == [], "rows not (or wrongly) copied: %r" % bad


def assert_final(db, project, fixed, *writers):
    assert project.phases()[1] == "contracted"
    cols = {r[0] for r in db.query(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'users'")}
    assert "user_name" not in cols and "username" in cols, cols
    assert_no_leftovers(db)
    expected = merged_expectations(*writers)
    expected.update(fixed)
    actual = dict(db.query("SELECT id, username FROM users"))
    assert len(actual) == SEED + sum(len(w.inserted) for w in writers)
    assert_rows(actual, expected, "username")
    # the constraints made it to the new column
    assert db.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
                    " AND conrelid = 'profiles'::regclass AND convalidated"
                    ) == [(1,)]
    assert db.query("SELECT count(*) FROM pg_constraint WHERE contype = 'u'"
                    " AND conrelid = 'users'::regclass") == [(1,)]


def crash_and_finish(pg_server, make_project, phase, k):
    """One run of the whole window with migrate killed after step k of
    phase and the same command run again."""
    db, project, fixed, owned = fresh(pg_server, make_project,
                                      "%s_%d" % (phase.replace("-", "_"), k))
    before = db.snapshot()
    blue = rename_blue(db, owned)
    green = rename_green(db)
    live = []

    def run(command, *args):
        if command == phase:
            assert_killed(project.run(command, "1", *args,
                                      fault="%s:%d" % (phase, k)))
            for w in live:      # the writers live with what the crash left
                wait_for_ops(w, 20)
        project.ok(command, "1", *args)
        for w in live:
            wait_for_ops(w, 5)

    with running(blue) as blue_run:
        live.append(blue)
        wait_for_ops(blue, 10)
        run("expand")
        with running(green) as green_run:
            live.append(green)
            run("backfill", "--batch-size", "100")
            run("switch-reads")
            assert_sides_agree(db)
            if phase == "rollback":
                green_run.finish()          # back to blue only
                live.remove(green)
                run("rollback")
                blue_run.finish()
                assert db.snapshot() == before
                assert_no_leftovers(db)
                assert project.phases()[1] == "pending"
                expected = merged_expectations(blue, green)
                expected.update(fixed)
                assert_rows(dict(db.query("SELECT id, user_name FROM users")),
                            expected, "user_name")
                db.drop()
                return
            blue_run.finish()               # green only from here
            live.remove(blue)
            run("contract")
    assert_final(db, project, fixed, blue, green)
    db.drop()


@pytest.mark.parametrize("phase", ["expand", "switch-reads", "contract",
                                   "rollback"])
def test_kill_after_every_step(pg_server, make_project, phase):
    steps = plan_steps(pg_server, make_project, phase)
    for k in range(1, len(steps) + 1):
        try:
            crash_and_finish(pg_server, make_project, phase, k)
        except AssertionError as e:
            raise AssertionError("killed after %s step %d of %d (%s): %s"
                                 % (phase, k, len(steps),
                                    steps[k - 1].get("description"), e)) from e


def users_keyed(db, n, key):
    """The rename's users table with a bigint primary key, or with a
    composite (text, bigint) one whose order is unrelated to insertion
    order; the writers address rows by the (unique) id either way."""
    if key == "bigint":
        return setup_users(db, n)
    db.execute("CREATE TABLE users (region text NOT NULL"
               " DEFAULT md5(random()::text), id bigserial,"
               " user_name text NOT NULL, email text,"
               " PRIMARY KEY (region, id))")
    db.execute("INSERT INTO users (user_name, email)"
               " SELECT 'seed-' || g, 'seed-' || g || '@example.com'"
               "   FROM generate_series(1, %d) g" % n)
    return dict(db.query("SELECT id, user_name FROM users"))


KEYS = pytest.mark.parametrize("key", ["bigint", "composite"])


@KEYS
def test_backfill_fault_mid_run_resumes(db, project, key):
    seeded = users_keyed(db, SEED, key)
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    with running(blue):
        wait_for_ops(blue, 10)
        project.ok("expand", "1")
        assert_killed(project.run("backfill", "1", "--batch-size", "20",
                                  fault="backfill:1:3"))
        done = db.query("SELECT count(*) FROM users WHERE %s <> 0"
                        % MARKER)[0][0]
        untouched = db.query("SELECT count(*) FROM users WHERE %s = 0"
                             % MARKER)[0][0]
        assert done >= 60 and untouched > 0, (done, untouched)
        wait_for_ops(blue, 10)
        project.ok("backfill", "1", "--batch-size", "20")
        assert_sides_agree(db)
        project.ok("switch-reads", "1")
    assert_sides_agree(db)
    assert_rows(dict(db.query("SELECT id, username FROM users")),
                merged_expectations(blue), "username")


@KEYS
def test_real_kill_during_backfill_resumes(db, project, key):
    n = 5000
    seeded = users_keyed(db, n, key)
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    with running(blue):
        project.ok("expand", "1")
        p = project.popen("backfill", "1", "--batch-size", "1")
        # let it get going (about half a second), then kill -9 mid-run
        deadline = time.monotonic() + 10
        time.sleep(0.5)
        while time.monotonic() < deadline and p.poll() is None:
            done = db.query("SELECT count(*) FROM users WHERE %s <> 0"
                            % MARKER)[0][0]
            if done >= 100:
                break
            time.sleep(0.05)
        assert p.poll() is None, \
            "backfill ended before it could be killed (exit %r)\n%s" % (
                p.returncode, "".join(p.communicate()))
        p.kill()
        out, err = p.communicate()
        assert p.returncode in KILLED, (p.returncode, out, err)
        untouched = db.query("SELECT count(*) FROM users WHERE %s = 0"
                             % MARKER)[0][0]
        assert 0 < untouched < n, untouched
        wait_for_ops(blue, 10)
        project.ok("backfill", "1", "--batch-size", "500")
        assert_sides_agree(db)
        project.ok("switch-reads", "1")
    assert_sides_agree(db)
    assert_rows(dict(db.query("SELECT id, user_name FROM users")),
                merged_expectations(blue), "user_name")
