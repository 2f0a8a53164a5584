"""Faults for real on PostgreSQL, each compared with a run without faults.

The rename users.user_name -> users.username carries dependents (an index,
a UNIQUE constraint, an inbound FK from profiles), so expand builds indexes
concurrently and switch-reads verifies and validates. `window()` runs the
whole life of the migration (expand, backfill, switch-reads, then contract
or rollback) with the same application writes at the same points; a fault
hits one command, which is then run again until it finishes. Whatever the
fault, the command either finishes or ends with an error that names the
problem (`error:` and `hint:`), and the end state (schema and every row)
equals the run without faults.

- the lock: its session terminated mid-backfill stops every worker before
  its next batch commits (exit 3, "lost the advisory lock"; issue 11,
  defect 4), with one worker and with two, while the application writes;
  the lock-held error names the holder and never advises killing it;
- backend termination of every migrate session: a backfill worker, the
  lock session during an index build, the session that verifies at
  switch-reads;
- server restart mid-backfill and mid-index-build;
- SIGKILL at seeded random moments of every phase (two per phase here;
  tests/bench/fault_loop.py runs a longer loop and prints a table).
"""

import json
import os
import random
import signal
import sqlite3
import time

import pytest

from writers import (RENAME_MIGRATION, Writer, assert_rows, rename_blue,
                     rename_blue_insert, rename_blue_update, running,
                     setup_users, wait_for_ops)

SEED = 2000           # rows for the tests that watch a slow backfill
WINDOW_ROWS = 300     # rows of the windows compared with a run without faults
REFERENCED = 100
FILE = "0001_rename_user_name.yaml"
MARKER = "_migrate_1"
KILLED = (-9, 137)
# SIGKILLs per phase: 2 in CI; the benchmark sets more
ITERATIONS = int(os.environ.get("MIGRATE_FAULT_ITERATIONS", "2"))
PHASES = ("expand", "backfill", "switch-reads", "contract", "rollback")


# -- sessions ------------------------------------------------------------------

def sessions(db):
    """[(pid, application_name, holds the migrate lock, wait_event_type)]
    of migrate's sessions in db."""
    with db.admin() as c:
        return c.execute(
            "SELECT a.pid, a.application_name,"
            "       EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid"
            "               AND l.locktype = 'advisory' AND l.granted),"
            "       coalesce(a.wait_event_type, '')"
            "  FROM pg_stat_activity a"
            " WHERE a.datname = current_database()"
            "   AND a.application_name LIKE 'migrate/%%'").fetchall()


def wait_until(pred, what, timeout=20, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError("migrate ended (exit %r) before %s\n%s" % (
                proc.returncode, what, "".join(proc.communicate())))
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def lock_session(db, proc=None):
    def find():
        return [s for s in sessions(db) if s[2]]
    [s] = wait_until(find, "the lock session", proc=proc)
    return s


def terminate(db, pid):
    with db.admin() as c:
        assert c.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        deadline = time.monotonic() + 10
        while c.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                        (pid,)).fetchone()[0]:
            assert time.monotonic() < deadline, "pid %d did not end" % pid
            time.sleep(0.01)


def backfilled(db, upto=SEED):
    return db.query("SELECT count(*) FROM users WHERE %s <> 0 AND id <= %d"
                    % (MARKER, upto))[0][0]


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_named_error(rc, err, what):
    """A failed run ends with an error that says what and what next."""
    assert rc != 0
    assert "error:" in err and "hint:" in err, "%s: no error/hint line\n%s" % (what, err)


# -- the defect: the lock is watched ---------------------------------------------

@pytest.mark.parametrize("jobs", [1, 2])
def test_lock_session_terminated_stops_every_worker(db, project, jobs):
    seeded = setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    # blue only inserts here: its rows are past the backfill's range, so the
    # markers of the seeded rows count the backfill's writes alone
    blue = Writer(db.connect, "blue", rename_blue_insert, rename_blue_update,
                  owned=seeded, insert_ratio=1.0)
    with running(blue):
        project.ok("expand", "1")
        p = project.popen("backfill", "1", "--batch-size", "1", "--jobs", jobs)
        wait_until(lambda: backfilled(db) >= 50, "the backfill to get going", proc=p)
        pid, app, _, _ = lock_session(db, p)
        assert app == "migrate/backfill"
        terminate(db, pid)
        at_loss = backfilled(db)
        rc, out, err = finish(p)
        after = backfilled(db)
        assert rc == 3, (rc, out, err)
        assert "lost the advisory lock: its session (pid %d) was terminated" % pid in err, err
        assert "re-run the command" in err, err
        # a batch whose check passed before the session ended may commit
        # (one row per worker); nothing after it
        assert after - at_loss <= jobs, (at_loss, after)
        assert after < SEED, "the backfill went on without the lock"
        wait_for_ops(blue, 5)
        project.ok("backfill", "1", "--batch-size", "500")
        assert backfilled(db) == SEED
        project.ok("switch-reads", "1")
    assert_rows(dict(db.query("SELECT id, username FROM users")),
                dict(blue.expected), "username")


def test_lock_lost_while_paused_ends_the_run(db, project, tmp_path):
    """A paused backfill writes nothing, but it must not wait for the pause
    to end to notice that it lost the lock."""
    setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    project.ok("expand", "1")
    pause = tmp_path / "pause"
    pause.touch()
    p = project.popen("backfill", "1", "--pause-file", pause)
    pid, _, _, _ = lock_session(db, p)
    time.sleep(0.5)
    terminate(db, pid)
    t0 = time.monotonic()
    rc, _, err = finish(p, timeout=30)
    assert rc == 3 and "lost the advisory lock: its session (pid %d)" % pid in err, (rc, err)
    assert time.monotonic() - t0 < 10
    assert backfilled(db) == 0
    pause.unlink()
    project.ok("backfill", "1")
    assert backfilled(db) == SEED


def copy_state(project, other):
    """other gets a copy of project's state file (as a second pipeline
    with an old artifact would), taken with SQLite's backup API."""
    other.state.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(project.state))
    dst = sqlite3.connect(str(other.state))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    for f in project.migrations.iterdir():
        other.write(f.name, f.read_text())


def test_lock_held_names_the_holder_and_never_advises_killing_it(db, project,
                                                                 make_project):
    setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    project.ok("expand", "1")
    second = make_project(db, "second")
    copy_state(project, second)
    p = project.popen("backfill", "1", "--batch-size", "1")
    try:
        pid, _, _, _ = lock_session(db, p)
        r = second.expect(3, "backfill", "1")
        held = ("another migrate holds the lock on this database: pid %d,"
                " application 'migrate/backfill'" % pid)
        assert held in r.err, r.err
        assert "connected since" in r.err and "wait for it to finish" in r.err, r.err
        assert "terminate" not in r.err and "KILL" not in r.err, r.err
    finally:
        p.send_signal(signal.SIGINT)
        rc, _, err = finish(p)
    assert rc == 3 and "stopped by signal" in err, err
    project.ok("backfill", "1", "--batch-size", "500")
    assert backfilled(db) == SEED


# -- the window, and its run without faults ------------------------------------------

def with_dependents(db):
    setup_users(db, WINDOW_ROWS)
    db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    db.execute("ALTER TABLE users ADD CONSTRAINT users_user_name_key UNIQUE (user_name)")
    db.execute("CREATE TABLE profiles (id bigserial PRIMARY KEY,"
               " user_name text NOT NULL REFERENCES users (user_name))")
    db.execute("INSERT INTO profiles (user_name) SELECT user_name FROM users"
               " WHERE id <= %d" % REFERENCED)


def app_writes(db, n, new_side):
    """The application's writes between commands: the same in every run.
    The old version until contract, the new one after switch-reads."""
    col = "username" if new_side else "user_name"
    db.execute("INSERT INTO users (%s, email) VALUES (%%s, %%s)" % col,
               ("app-%d" % n, "a%d@example.com" % n))
    db.execute("UPDATE users SET %s = %%s WHERE id = %%s" % col,
               ("app-upd-%d" % n, REFERENCED + n))


def end_state(db):
    snap = db.snapshot()
    cols = [c for (_, t, c, *_) in snap["columns"] if t == "users"]
    rows = db.query("SELECT id, %s, email FROM users ORDER BY id" % ", ".join(
        c for c in cols if c in ("user_name", "username")))
    return snap, rows


LAST = {}    # what the last faulted command went through, for record()


def record(**fields):
    """One line of JSON per faulted run into $MIGRATE_FAULT_STATS (the
    benchmark tests/bench/fault_loop.py reads them); nothing without it."""
    path = os.environ.get("MIGRATE_FAULT_STATS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict(fields, database="postgres", **LAST)) + "\n")


def run_again(project, command, args, what):
    """Run command until it finishes: each failure must name its problem."""
    LAST.update(reruns=0, refusals=[])
    for _ in range(3):
        r = project.run(command, "1", *args)
        LAST["reruns"] += 1
        if r.rc == 0:
            return
        assert_named_error(r.rc, r.err, what)
        LAST["refusals"].append(r.err.strip().splitlines()[-2][:160])
        time.sleep(0.3)
    raise AssertionError("%s: %s did not finish after three runs\n%s"
                         % (what, command, r.describe()))


def window(pg_server, make_project, label, last="contract", fault=None, at=None):
    """The whole window on a fresh database; fault(project, db, command,
    args) disrupts command `at` and returns a description; the command is
    then run again until it finishes. Returns the end state (the database
    is dropped)."""
    db = pg_server.new_database(label)
    try:
        with_dependents(db)
        project = make_project(db, label)
        project.write(FILE, RENAME_MIGRATION)
        for n, command in enumerate(["expand", "backfill", "switch-reads", last], 1):
            args = ["--batch-size", "20"] if command == "backfill" else []
            if command == at:
                what = fault(project, db, command, args)
                # the application goes on with what the fault left
                app_writes(db, 10 + n, command == "contract")
                run_again(project, command, args, what)
            else:
                app_writes(db, 10 + n, command == "contract")
                project.ok(command, "1", *args)
            if command not in ("contract", "rollback"):
                app_writes(db, n, n == 3)
        assert project.phases()[1] == ("contracted" if last == "contract" else "pending")
        return end_state(db)
    finally:
        db.drop()


_reference = {}


def reference(pg_server, make_project, last):
    if last not in _reference:
        _reference[last] = window(pg_server, make_project, "ref_" + last, last)
    return _reference[last]


def check_against_reference(pg_server, make_project, label, at, fault):
    last = "rollback" if at == "rollback" else "contract"
    want = reference(pg_server, make_project, last)
    got = window(pg_server, make_project, label, last, fault, at)
    assert got[0] == want[0], "%s: the schema differs from the run without faults" % label
    diff = [(a, b) for a, b in zip(got[1], want[1]) if a != b]
    assert got[1] == want[1], "%s: rows differ from the run without faults: %r (%d vs %d rows)" % (
        label, diff[:5], len(got[1]), len(want[1]))


# -- backend termination -------------------------------------------------------------

def hold_snapshot(db):
    """An application transaction with a snapshot: CREATE INDEX
    CONCURRENTLY waits for it to end."""
    c = db.connect(application_name="pytest-snapshot")
    c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    c.execute("SELECT 1").fetchone()
    return c


def waiting_session(db, app, proc):
    def find():
        return [s for s in sessions(db) if s[1] == app and s[3] == "Lock"]
    return wait_until(find, "%s to wait" % app, proc=proc)[0]


def test_lock_session_terminated_mid_index_build(pg_server, make_project):
    def fault(project, db, command, args):
        snap = hold_snapshot(db)
        p = project.popen(command, "1", *args)
        pid = waiting_session(db, "migrate/expand", p)[0]
        terminate(db, pid)
        snap.execute("ROLLBACK")
        snap.close()
        rc, _, err = finish(p)
        assert rc == 3 and "lost the advisory lock: its session (pid %d)" % pid in err, (rc, err)
        return "lock session terminated during an index build"
    check_against_reference(pg_server, make_project, "term_index", "expand", fault)


def test_verify_session_terminated_mid_switch_reads(pg_server, make_project):
    def fault(project, db, command, args):
        blocker = db.connect(autocommit=False, application_name="pytest-blocker")
        blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        p = project.popen(command, "1", *args)
        pid = waiting_session(db, "migrate/switch-reads", p)[0]
        terminate(db, pid)
        blocker.rollback()
        blocker.close()
        rc, _, err = finish(p)
        assert rc == 3 and "lost the advisory lock: its session (pid %d)" % pid in err, (rc, err)
        return "switch-reads session terminated while it verified"
    check_against_reference(pg_server, make_project, "term_verify", "switch-reads", fault)


def test_worker_session_terminated_mid_backfill(db, project):
    seeded = setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    with running(blue):
        project.ok("expand", "1")
        p = project.popen("backfill", "1", "--batch-size", "1", "--jobs", "2")
        wait_until(lambda: backfilled(db) >= 50, "the backfill to get going", proc=p)
        workers = wait_until(lambda: [s for s in sessions(db)
                                      if s[1] == "migrate/backfill" and not s[2]],
                             "the workers", proc=p)
        terminate(db, workers[0][0])
        rc, out, err = finish(p)
        assert rc == 3 and "error:" in err, (rc, out, err)
        assert backfilled(db) < SEED
        wait_for_ops(blue, 5)
        project.ok("backfill", "1", "--batch-size", "500", "--jobs", "2")
        project.ok("switch-reads", "1")
    assert_rows(dict(db.query("SELECT id, username FROM users")),
                dict(blue.expected), "username")


# -- server restarts ----------------------------------------------------------------

def test_server_restart_mid_backfill(pg_server, make_project):
    def fault(project, db, command, args):
        p = project.popen(command, "1", "--batch-size", "1")
        wait_until(lambda: backfilled(db) >= 30, "the backfill to get going", proc=p)
        db.close()
        pg_server.restart()
        rc, _, err = finish(p)
        assert_named_error(rc, err, "restart mid-backfill")
        assert backfilled(db, WINDOW_ROWS) < WINDOW_ROWS
        return "server restarted mid-backfill"
    check_against_reference(pg_server, make_project, "restart_backfill", "backfill", fault)


def test_server_restart_mid_index_build(pg_server, make_project):
    def fault(project, db, command, args):
        snap = hold_snapshot(db)
        p = project.popen(command, "1", *args)
        waiting_session(db, "migrate/expand", p)
        pg_server.restart()     # ends the snapshot's session too
        db.close()
        rc, _, err = finish(p)
        assert_named_error(rc, err, "restart mid-index-build")
        return "server restarted mid-index-build"
    check_against_reference(pg_server, make_project, "restart_index", "expand", fault)


# -- SIGKILL at random moments ---------------------------------------------------------

def sigkill_at_random(rng, durations):
    def fault(project, db, command, args):
        delay = rng.uniform(0, durations.get(command, 0.3))
        p = project.popen(command, "1", *args)
        time.sleep(delay)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        rc, _, _ = finish(p)
        LAST.update(delay=round(delay, 3), killed=rc in (-9, 137), exit=rc)
        return "SIGKILL %.3f s into %s (exit %s)" % (delay, command, rc)
    return fault


_durations = {}


def timed(pg_server, make_project):
    """How long each command takes here, to aim the kills inside it."""
    durations = _durations
    if durations:
        return durations
    db = pg_server.new_database("timing")
    try:
        with_dependents(db)
        project = make_project(db, "timing")
        project.write(FILE, RENAME_MIGRATION)
        for command in ("expand", "backfill", "switch-reads", "contract"):
            t0 = time.monotonic()
            project.ok(command, "1", *(["--batch-size", "20"] if command == "backfill" else []))
            durations[command] = time.monotonic() - t0
        durations["rollback"] = durations["contract"]
    finally:
        db.drop()
    return durations


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_at_random_moments(pg_server, make_project, phase):
    rng = random.Random("sigkill-" + phase)
    durations = timed(pg_server, make_project)
    for i in range(ITERATIONS):
        LAST.clear()
        try:
            check_against_reference(pg_server, make_project, "kill_%s_%d" % (phase, i),
                                    phase, sigkill_at_random(rng, durations))
        except AssertionError as e:
            record(phase=phase, outcome="FAILED: " + str(e).splitlines()[0][:200])
            raise
        record(phase=phase, outcome="same as without faults")
