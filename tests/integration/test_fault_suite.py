"""Faults for real, each compared with a run without faults, on PostgreSQL
and on MariaDB (one test per fault, parametrised by target).

`window()` runs the whole life of a migration (expand, backfill,
switch-reads, then contract or rollback) with the same application writes
at the same points; a fault hits one command, which is then run again until
it finishes. Whatever the fault, the command either finishes or ends with
an error that names the problem (`error:` and `hint:`), and the end state
(schema and every row) equals the run without faults.

The window's migration differs by database where the fault needs it:
- PostgreSQL: the rename users.user_name -> users.username carries
  dependents (an index, a UNIQUE constraint, an inbound FK from profiles),
  so expand builds indexes concurrently and switch-reads verifies and
  validates;
- MariaDB: an operation of test_faults.OPS (the rename, or create_index
  where the fault needs an index build), as test_faults runs them.

- the lock: its session terminated (pg_terminate_backend / KILL of the
  connection holding GET_LOCK) mid-backfill stops every worker before its
  next batch commits (exit 3, "lost the advisory lock"; issue 11, defect 4),
  with one worker and with two, while the application writes; the
  lock-held error names the holder and never advises killing it;
- termination of every migrate session (found by application_name /
  program_name): a backfill worker, the lock session while its index build
  waits, the session that verifies at switch-reads;
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

from test_faults import OPS, blue_writes, rows, schema
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

def wait_until(pred, what, timeout=20, proc=None, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError("migrate ended (exit %r) before %s\n%s" % (
                proc.returncode, what, "".join(proc.communicate())))
        time.sleep(every)
    raise AssertionError("timed out waiting for " + what)


def lock_session(target, db, proc=None):
    """(id, program, True, waits) of the session holding migrate's lock."""
    def find():
        return [s for s in target.sessions(db) if s[2]]
    [s] = wait_until(find, "the lock session", proc=proc)
    return s


def backfilled(db, upto=SEED, table="users"):
    return db.query("SELECT count(*) FROM %s WHERE %s <> 0 AND id <= %d"
                    % (table, MARKER, upto))[0][0]


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_named_error(rc, err, what):
    """A failed run ends with an error that says what and what next."""
    assert rc != 0
    assert "error:" in err and "hint:" in err, "%s: no error/hint line\n%s" % (what, err)


def lost_lock(target, session_id):
    return "lost the advisory lock: its session (%s %d)" % (target.session_word,
                                                              session_id)


# -- the defect: the lock is watched ---------------------------------------------

@pytest.mark.parametrize("jobs", [1, 2])
def test_lock_session_terminated_stops_every_worker(target, jobs):
    db, project = target.db, target.project
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
        sid, app, _, _ = lock_session(target, db, p)
        assert app == "migrate/backfill"
        target.terminate(db, sid)
        at_loss = backfilled(db)
        rc, out, err = finish(p)
        after = backfilled(db)
        assert rc == 3, (rc, out, err)
        assert lost_lock(target, sid) + " was terminated" in err, err
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


def test_lock_lost_while_paused_ends_the_run(target, tmp_path):
    """A paused backfill writes nothing, but it must not wait for the pause
    to end to notice that it lost the lock."""
    db, project = target.db, target.project
    setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    project.ok("expand", "1")
    pause = tmp_path / "pause"
    pause.touch()
    p = project.popen("backfill", "1", "--pause-file", pause)
    sid, _, _, _ = lock_session(target, db, p)
    time.sleep(0.5)
    target.terminate(db, sid)
    t0 = time.monotonic()
    rc, _, err = finish(p, timeout=30)
    assert rc == 3 and lost_lock(target, sid) in err, (rc, err)
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


def test_lock_held_names_the_holder_and_never_advises_killing_it(target):
    db, project = target.db, target.project
    setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    project.ok("expand", "1")
    second = target.make_project(db, "second")
    copy_state(project, second)
    p = project.popen("backfill", "1", "--batch-size", "1")
    try:
        sid, _, _, _ = lock_session(target, db, p)
        r = second.expect(3, "backfill", "1")
        held = ("another migrate holds the lock on this database: %s %d"
                % (target.session_word, sid))
        assert held in r.err, r.err
        assert "wait for it to finish" in r.err, r.err
        if target.is_pg:
            # PostgreSQL shows every role the application_name and when the
            # holder connected; MariaDB shows the program_name only to a
            # user with SELECT on performance_schema (app has none here),
            # and its processlist has no connect time
            assert held + ", application 'migrate/backfill'" in r.err, r.err
            assert "connected since" in r.err, r.err
        assert "terminate" not in r.err and "KILL" not in r.err, r.err
    finally:
        p.send_signal(signal.SIGINT)
        rc, _, err = finish(p)
    assert rc == 3 and "stopped by signal" in err, err
    project.ok("backfill", "1", "--batch-size", "500")
    assert backfilled(db) == SEED


def test_worker_session_terminated_mid_backfill(target):
    db, project = target.db, target.project
    seeded = setup_users(db, SEED)
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    with running(blue):
        project.ok("expand", "1")
        p = project.popen("backfill", "1", "--batch-size", "1", "--jobs", "2")
        wait_until(lambda: backfilled(db) >= 50, "the backfill to get going", proc=p)
        workers = wait_until(lambda: [s for s in target.sessions(db)
                                      if s[1] == "migrate/backfill" and not s[2]],
                             "the workers", proc=p)
        target.terminate(db, workers[0][0])
        rc, out, err = finish(p)
        assert rc == 3 and "error:" in err, (rc, out, err)
        assert backfilled(db) < SEED
        wait_for_ops(blue, 5)
        project.ok("backfill", "1", "--batch-size", "500", "--jobs", "2")
        project.ok("switch-reads", "1")
    assert_rows(dict(db.query("SELECT id, username FROM users")),
                dict(blue.expected), "username")


# -- the window, and its run without faults ------------------------------------------
# A scenario: the migration a window runs, with its table, its application
# writes between commands, and the end state compared with the reference.

class PgRename:
    """PostgreSQL: the rename with dependents (index, UNIQUE, inbound FK)."""
    table = "users"

    def __init__(self, name="rename_dependents"):
        self.name = name

    def seed(self, db, project):
        setup_users(db, WINDOW_ROWS)
        db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
        db.execute("ALTER TABLE users ADD CONSTRAINT users_user_name_key UNIQUE (user_name)")
        db.execute("CREATE TABLE profiles (id bigserial PRIMARY KEY,"
                   " user_name text NOT NULL REFERENCES users (user_name))")
        db.execute("INSERT INTO profiles (user_name) SELECT user_name FROM users"
                   " WHERE id <= %d" % REFERENCED)
        project.write(FILE, RENAME_MIGRATION)

    def _app_writes(self, db, n, new_side):
        """The application's writes between commands: the same in every
        run. The old version until contract, the new one after
        switch-reads."""
        col = "username" if new_side else "user_name"
        db.execute("INSERT INTO users (%s, email) VALUES (%%s, %%s)" % col,
                   ("app-%d" % n, "a%d@example.com" % n))
        db.execute("UPDATE users SET %s = %%s WHERE id = %%s" % col,
                   ("app-upd-%d" % n, REFERENCED + n))

    def before(self, db, n, command):
        self._app_writes(db, 10 + n, command == "contract")

    def after(self, db, n, command):
        self._app_writes(db, n, n == 3)

    def end_state(self, db):
        snap = db.snapshot()
        cols = [c for (_, t, c, *_) in snap["columns"] if t == "users"]
        got = db.query("SELECT id, %s, email FROM users ORDER BY id" % ", ".join(
            c for c in cols if c in ("user_name", "username")))
        return snap, got


class MysqlOp:
    """MariaDB: one operation of test_faults.OPS, the old version (blue)
    writing as test_faults has it."""
    table = "t"

    def __init__(self, op):
        self.name = op
        self.op = op

    def seed(self, db, project):
        db.execute(OPS[self.op]["ddl"])
        db.execute(OPS[self.op]["seed"].format(n=WINDOW_ROWS))
        project.write("0001_op.yaml", OPS[self.op]["migration"])

    def before(self, db, n, command):
        if command != "contract":       # blue is retired before contract
            blue_writes(db, self.op, n)

    def after(self, db, n, command):
        blue_writes(db, self.op, 10 + n)

    def end_state(self, db):
        return schema(db), renumbered(rows(db))


def renumbered(table):
    """Rows with the application's inserts numbered in order: a restart
    forgets the AUTO_INCREMENT values InnoDB reserved but never used (the
    seed's INSERT ... SELECT reserves them in blocks), so the ids, not the
    rows, may differ from the run without faults."""
    out = []
    for k, row in enumerate(table):
        out.append(row if row[0] <= WINDOW_ROWS else (k + 1,) + tuple(row[1:]))
    return out


def scenario(target, needs_index_build=False):
    """The window's migration on this target. On MariaDB the rename builds
    no index, so a fault inside an index build needs create_index there;
    on PostgreSQL the rename with dependents builds them concurrently."""
    if target.is_pg:
        return PgRename()
    return MysqlOp("create_index" if needs_index_build else "rename_column")


LAST = {}    # what the last faulted command went through, for record()


def record(target, **fields):
    """One line of JSON per faulted run into $MIGRATE_FAULT_STATS (the
    benchmark tests/bench/fault_loop.py reads them); nothing without it."""
    path = os.environ.get("MIGRATE_FAULT_STATS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict(fields, database=target.name, **LAST)) + "\n")


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


def window(target, sc, label, last="contract", fault=None, at=None):
    """The whole window on a fresh database; fault(project, db, command,
    args) disrupts command `at` and returns a description; the command is
    then run again until it finishes. Returns the end state (the database
    is dropped)."""
    db = target.new_database(label)
    try:
        project = target.make_project(db, label)
        sc.seed(db, project)
        for n, command in enumerate(["expand", "backfill", "switch-reads", last], 1):
            args = ["--batch-size", "20"] if command == "backfill" else []
            if command == at:
                what = fault(project, db, command, args)
            # the application goes on (with what the fault left)
            sc.before(db, n, command)
            if command == at:
                run_again(project, command, args, what)
            else:
                project.ok(command, "1", *args)
            if command not in ("contract", "rollback"):
                sc.after(db, n, command)
        assert project.phases()[1] == ("contracted" if last == "contract" else "pending")
        return sc.end_state(db)
    finally:
        db.drop()


_reference = {}


def check_against_reference(target, sc, label, at, fault):
    last = "rollback" if at == "rollback" else "contract"
    key = (target.name, sc.name, last)
    if key not in _reference:
        _reference[key] = window(target, sc, "ref_" + last, last)
    want = _reference[key]
    got = window(target, sc, label, last, fault, at)
    assert got[0] == want[0], "%s: the schema differs from the run without faults:\n%s\n%s" % (
        label, got[0], want[0])
    diff = [(a, b) for a, b in zip(got[1], want[1]) if a != b]
    assert got[1] == want[1], "%s: rows differ from the run without faults: %r (%d vs %d rows)" % (
        label, diff[:5], len(got[1]), len(want[1]))


# -- termination of a migrate session mid-step ------------------------------------------

def hold_back_ddl(target, db, table):
    """An application transaction that makes migrate's next DDL on table
    wait. PostgreSQL: a snapshot (CREATE INDEX CONCURRENTLY waits for it to
    end). MariaDB: a read of the table (its metadata lock is held until
    the transaction ends, and an ALTER waits for it)."""
    if target.is_pg:
        c = db.connect(application_name="pytest-snapshot")
        c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        c.execute("SELECT 1").fetchone()
        return c
    c = db.connect(program_name="app/reader")
    c.autocommit(False)
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM %s" % table)
        cur.fetchall()
    return c


def release(conn):
    conn.rollback()
    conn.close()


def lock_table(target, db, table):
    """A session holding table's strongest lock until unlock_table()."""
    if target.is_pg:
        c = db.connect(autocommit=False, application_name="pytest-blocker")
        c.execute("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % table)
        return c
    c = db.connect(program_name="app/locker")
    with c.cursor() as cur:
        cur.execute("LOCK TABLES %s WRITE" % table)
    return c


def unlock_table(target, conn):
    if target.is_mysql:
        with conn.cursor() as cur:
            cur.execute("UNLOCK TABLES")
    else:
        conn.rollback()
    conn.close()


def waiting_session(target, db, program, proc):
    """The id of migrate's session `program` once it waits for a lock."""
    def find():
        return [s for s in target.sessions(db) if s[1] == program and s[3]]
    return wait_until(find, "%s to wait for a lock" % program, proc=proc,
                      every=0.005)[0][0]


def test_lock_session_terminated_mid_index_build(target):
    sc = scenario(target, needs_index_build=True)

    def fault(project, db, command, args):
        blocker = hold_back_ddl(target, db, sc.table)
        p = project.popen(command, "1", *args)
        sid = waiting_session(target, db, "migrate/expand", p)
        target.terminate(db, sid)
        release(blocker)
        rc, _, err = finish(p)
        assert rc == 3 and lost_lock(target, sid) in err, (rc, err)
        return "lock session terminated during an index build"
    check_against_reference(target, sc, "term_index", "expand", fault)


def test_verify_session_terminated_mid_switch_reads(target):
    sc = scenario(target)

    def fault(project, db, command, args):
        blocker = lock_table(target, db, sc.table)
        p = project.popen(command, "1", *args)
        sid = waiting_session(target, db, "migrate/switch-reads", p)
        target.terminate(db, sid)
        unlock_table(target, blocker)
        rc, _, err = finish(p)
        assert rc == 3 and lost_lock(target, sid) in err, (rc, err)
        return "switch-reads session terminated while it verified"
    check_against_reference(target, sc, "term_verify", "switch-reads", fault)


# -- server restarts ----------------------------------------------------------------

def test_server_restart_mid_backfill(target):
    sc = scenario(target)

    def fault(project, db, command, args):
        p = project.popen(command, "1", "--batch-size", "1")
        wait_until(lambda: backfilled(db, WINDOW_ROWS, sc.table) >= 30,
                   "the backfill to get going", proc=p)
        db.close()
        target.restart()
        rc, _, err = finish(p)
        assert_named_error(rc, err, "restart mid-backfill")
        assert backfilled(db, WINDOW_ROWS, sc.table) < WINDOW_ROWS
        return "server restarted mid-backfill"
    check_against_reference(target, sc, "restart_backfill", "backfill", fault)


def test_server_restart_mid_index_build(target):
    sc = scenario(target, needs_index_build=True)

    def fault(project, db, command, args):
        blocker = hold_back_ddl(target, db, sc.table)
        p = project.popen(command, "1", *args)
        waiting_session(target, db, "migrate/expand", p)
        target.restart()        # ends the blocker's session too
        blocker.close()
        db.close()
        rc, _, err = finish(p)
        assert_named_error(rc, err, "restart mid-index-build")
        return "server restarted mid-index-build"
    check_against_reference(target, sc, "restart_index", "expand", fault)


# -- SIGKILL at random moments ---------------------------------------------------------

def sigkill_at_random(rng, durations):
    def fault(project, db, command, args):
        delay = rng.uniform(0, durations.get(command, 0.3))
        p = project.popen(command, "1", *args)
        time.sleep(delay)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        rc, _, _ = finish(p)
        LAST.update(delay=round(delay, 3), killed=rc in KILLED, exit=rc)
        return "SIGKILL %.3f s into %s (exit %s)" % (delay, command, rc)
    return fault


_durations = {}


def timed(target, sc):
    """How long each command takes here, to aim the kills inside it."""
    durations = _durations.setdefault(target.name, {})
    if durations:
        return durations
    db = target.new_database("timing")
    try:
        project = target.make_project(db, "timing")
        sc.seed(db, project)
        for command in ("expand", "backfill", "switch-reads", "contract"):
            t0 = time.monotonic()
            project.ok(command, "1", *(["--batch-size", "20"] if command == "backfill" else []))
            durations[command] = time.monotonic() - t0
        durations["rollback"] = durations["contract"]
    finally:
        db.drop()
    return durations


# the seeds of the two files this one was merged from, so the kills land
# where they did
SIGKILL_SEED = {"postgres": "sigkill-", "mariadb": "mysql-sigkill-"}


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_at_random_moments(target, phase):
    sc = scenario(target)
    rng = random.Random(SIGKILL_SEED[target.name] + phase)
    durations = timed(target, sc)
    for i in range(ITERATIONS):
        LAST.clear()
        try:
            check_against_reference(target, sc, "kill_%s_%d" % (phase, i),
                                    phase, sigkill_at_random(rng, durations))
        except AssertionError as e:
            record(target, phase=phase, outcome="FAILED: " + str(e).splitlines()[0][:200])
            raise
        record(target, phase=phase, outcome="same as without faults")
