"""Crashes at exact points, then a rerun: the rename ends in the right state.

Test builds of migrate honour MIGRATE_FAULT=<phase>:<step> (SIGKILL right
after that step of the phase committed) and MIGRATE_FAULT=backfill:<table>:
<batch> (right after that batch committed).

- for every step k of expand (from `plan 1 --json`), on a fresh database with
  blue writing: expand dies at k, blue keeps working, expand again, then the
  other phases; every row is kept with its right value;
- the same for every step of contract, with green writing;
- backfill killed after its third batch, then resumed;
- a real kill -9 of a running backfill, then resumed.
"""

import time

from writers import (RENAME_MIGRATION, assert_no_leftovers, assert_rows,
                     merged_expectations, rename_blue, rename_green, running,
                     setup_users, wait_for_ops)

SEED = 1000
FILE = "0001_rename_user_name.yaml"
MARKER = "_migrate_1"
KILLED = (-9, 137)


def fresh(pg_server, make_project, label, n=SEED):
    db = pg_server.new_database(label)
    seeded = setup_users(db, n)
    project = make_project(db, label)
    project.write(FILE, RENAME_MIGRATION)
    return db, project, seeded


def plan_steps(project, phase):
    doc = project.json("plan", "1")
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


def assert_final(db, project, *writers):
    assert project.phases()[1] == "contracted"
    cols = {r[0] for r in db.query(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'users'")}
    assert "user_name" not in cols and "username" in cols, cols
    assert_no_leftovers(db)
    expected = merged_expectations(*writers)
    actual = dict(db.query("SELECT id, username FROM users"))
    assert len(actual) == SEED + sum(len(w.inserted) for w in writers)
    assert_rows(actual, expected, "username")


def test_kill_at_every_expand_step(pg_server, make_project):
    db0, p0, _ = fresh(pg_server, make_project, "expand_plan", 10)
    steps = plan_steps(p0, "expand")
    db0.drop()

    for k in range(1, len(steps) + 1):
        label = "expand_fault_%d" % k
        db, project, seeded = fresh(pg_server, make_project, label)
        try:
            blue = rename_blue(db, seeded)
            with running(blue):
                wait_for_ops(blue, 10)
                assert_killed(project.run("expand", "1",
                                          fault="expand:%d" % k))
                # the crash left a state blue can live with
                wait_for_ops(blue, 20)
                project.ok("expand", "1")
                wait_for_ops(blue, 10)
                project.ok("backfill", "1", "--batch-size", "100")
                project.ok("switch-reads", "1")
                assert_sides_agree(db)
            green = rename_green(db)
            with running(green):
                wait_for_ops(green, 10)
                project.ok("contract", "1")
                wait_for_ops(green, 10)
            assert_final(db, project, blue, green)
        except AssertionError as e:
            raise AssertionError("killed after expand step %d of %d (%s): %s"
                                 % (k, len(steps),
                                    steps[k - 1].get("description"), e)) from e
        db.drop()


def test_kill_at_every_contract_step(pg_server, make_project):
    db0, p0, _ = fresh(pg_server, make_project, "contract_plan", 10)
    steps = plan_steps(p0, "contract")
    db0.drop()

    for k in range(1, len(steps) + 1):
        label = "contract_fault_%d" % k
        db, project, seeded = fresh(pg_server, make_project, label)
        try:
            blue = rename_blue(db, seeded)
            green = rename_green(db)
            with running(blue) as blue_run:
                wait_for_ops(blue, 10)
                project.ok("expand", "1")
                with running(green):
                    project.ok("backfill", "1", "--batch-size", "100")
                    project.ok("switch-reads", "1")
                    blue_run.finish()
                    assert_killed(project.run("contract", "1",
                                              fault="contract:%d" % k))
                    # green keeps working in whatever the crash left
                    wait_for_ops(green, 20)
                    project.ok("contract", "1")
                    wait_for_ops(green, 10)
            assert_final(db, project, blue, green)
        except AssertionError as e:
            raise AssertionError("killed after contract step %d of %d (%s): %s"
                                 % (k, len(steps),
                                    steps[k - 1].get("description"), e)) from e
        db.drop()


def test_backfill_fault_mid_run_resumes(db, project):
    seeded = setup_users(db, SEED)
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


def test_real_kill_during_backfill_resumes(db, project):
    n = 5000
    seeded = setup_users(db, n)
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
