"""Faults for real on MariaDB (label "mysql"), each compared with a run
without faults: the counterpart of test_fault_suite.py.

`window()` runs the life of one migration of test_mysql_faults.OPS
(expand, backfill, switch-reads, then contract or rollback) with the old
version's writes at the same points; a fault hits one command, which is
then run again until it finishes. The command either finishes or ends with
an error that names the problem (`error:` and `hint:`), and the end state
(schema and every row) equals the run without faults.

- the lock: KILL of the connection that holds GET_LOCK mid-backfill stops
  every worker before its next batch commits (exit 3, "lost the advisory
  lock"; issue 11, defect 4), with one worker and with two, while the
  application writes; the lock-held error never advises KILL;
- KILL of every migrate session (found by program_name): a backfill
  worker, the lock session while its index build waits, the session that
  verifies at switch-reads;
- server restart mid-backfill and mid-index-build;
- SIGKILL at seeded random moments of every phase (two per phase here;
  tests/bench/fault_loop.py runs a longer loop).
"""

import json
import os
import random
import signal
import threading
import time

import pytest

from test_mysql_faults import OPS, blue_writes, rows, schema

SEED = 2000           # rows for the tests that watch a slow backfill
WINDOW_ROWS = 300     # rows of the windows compared with a run without faults
# SIGKILLs per phase: 2 in CI; the benchmark sets more
ITERATIONS = int(os.environ.get("MIGRATE_FAULT_ITERATIONS", "2"))
PHASES = ("expand", "backfill", "switch-reads", "contract", "rollback")


# -- sessions ------------------------------------------------------------------

def lock_holder(db):
    """The connection id holding migrate's GET_LOCK on db, or None."""
    return db.admin_query("SELECT IS_USED_LOCK(%s)", ("migrate:" + db.name,))[0][0]


def migrate_sessions(db):
    """[(id, program_name, state)] of migrate's sessions."""
    return db.admin_query(
        "SELECT p.id, a.attr_value, coalesce(p.state, '') "
        "FROM information_schema.processlist p "
        "JOIN performance_schema.session_connect_attrs a "
        "  ON a.processlist_id = p.id AND a.attr_name = 'program_name' "
        "WHERE p.db = %s AND a.attr_value LIKE 'migrate/%%'", (db.name,))


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


def kill(db, conn_id):
    db.admin_query("KILL %d" % conn_id)
    db.wait_gone(conn_id)


def backfilled(db, upto=SEED):
    return db.query("SELECT count(*) FROM t WHERE _migrate_1 <> 0 AND id <= %d"
                    % upto)[0][0]


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_named_error(rc, err, what):
    assert rc != 0
    assert "error:" in err and "hint:" in err, "%s: no error/hint line\n%s" % (what, err)


def seed_table(db, op="rename_column", n=SEED):
    db.execute(OPS[op]["ddl"])
    db.execute(OPS[op]["seed"].format(n=n))


class Inserter(threading.Thread):
    """The old version inserting rows (past the backfill's range) until
    stopped; every insert must succeed."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.conn = db.connect(program_name="app/blue")
        self.halt = threading.Event()
        self.inserted = {}
        self.errors = []

    def run(self):
        n = 0
        with self.conn.cursor() as cur:
            while not self.halt.is_set():
                n += 1
                try:
                    cur.execute("INSERT INTO t (user_name, email) VALUES (%s, %s)",
                                ("blue-%d" % n, "b%d@example.com" % n))
                    self.inserted[cur.lastrowid] = "blue-%d" % n
                except Exception as e:  # noqa: BLE001 - a failure of the test
                    self.errors.append(repr(e))
                time.sleep(0.003)

    def stop(self):
        self.halt.set()
        self.join(10)
        self.conn.close()
        assert not self.errors, self.errors[:3]
        assert len(self.inserted) >= 10, "the application hardly wrote"


# -- the defect: the lock is watched ---------------------------------------------

@pytest.mark.parametrize("jobs", [1, 2])
def test_lock_session_killed_stops_every_worker(mysql_project, jobs):
    p = mysql_project
    db = p.db
    seed_table(db)
    p.write("0001_op.yaml", OPS["rename_column"]["migration"])
    p.ok("expand", "1")
    blue = Inserter(db)
    blue.start()
    try:
        proc = p.popen("backfill", "1", "--batch-size", "1", "--jobs", jobs)
        wait_until(lambda: backfilled(db) >= 50, "the backfill to get going", proc=proc)
        holder = lock_holder(db)
        assert holder, "no session holds the migrate lock"
        [(_, program, _)] = [s for s in migrate_sessions(db) if s[0] == holder]
        assert program == "migrate/backfill"
        kill(db, holder)
        at_loss = backfilled(db)
        rc, out, err = finish(proc)
        after = backfilled(db)
    finally:
        blue.stop()
    assert rc == 3, (rc, out, err)
    assert ("lost the advisory lock: its session (connection %d) was terminated"
            % holder) in err, err
    assert "re-run the command" in err, err
    assert after - at_loss <= jobs, (at_loss, after)
    assert after < SEED, "the backfill went on without the lock"
    p.ok("backfill", "1", "--batch-size", "500")
    assert backfilled(db) == SEED
    p.ok("switch-reads", "1")
    got = dict(db.query("SELECT id, username FROM t WHERE id > %d" % SEED))
    assert got == blue.inserted


def test_lock_held_never_advises_kill(mysql_project, make_project):
    p = mysql_project
    db = p.db
    seed_table(db)
    p.write("0001_op.yaml", OPS["rename_column"]["migration"])
    p.ok("expand", "1")
    second = make_project(db, "second")
    second.write("0001_op.yaml", OPS["rename_column"]["migration"])
    second.state.parent.mkdir(parents=True, exist_ok=True)
    second.state.write_bytes(p.state.read_bytes())
    proc = p.popen("backfill", "1", "--batch-size", "1")
    try:
        holder = wait_until(lambda: lock_holder(db), "the lock", proc=proc)
        r = second.expect(3, "backfill", "1")
        assert "another migrate holds the lock on this database: connection %d" % holder in r.err
        assert "wait for it to finish" in r.err and "KILL" not in r.err, r.err
    finally:
        proc.send_signal(signal.SIGINT)
        rc, _, err = finish(proc)
    assert rc == 3 and "stopped by signal" in err, err
    p.ok("backfill", "1", "--batch-size", "500")
    assert backfilled(db) == SEED


def test_lock_lost_while_paused_ends_the_run(mysql_project, tmp_path):
    p = mysql_project
    db = p.db
    seed_table(db)
    p.write("0001_op.yaml", OPS["rename_column"]["migration"])
    p.ok("expand", "1")
    pause = tmp_path / "pause"
    pause.touch()
    proc = p.popen("backfill", "1", "--pause-file", pause)
    holder = wait_until(lambda: lock_holder(db), "the lock", proc=proc)
    time.sleep(0.5)
    kill(db, holder)
    t0 = time.monotonic()
    rc, _, err = finish(proc, timeout=30)
    assert rc == 3 and ("lost the advisory lock: its session (connection %d)"
                        % holder) in err, (rc, err)
    assert time.monotonic() - t0 < 10
    assert backfilled(db) == 0
    pause.unlink()
    p.ok("backfill", "1")
    assert backfilled(db) == SEED


def test_worker_session_killed_mid_backfill(mysql_project):
    p = mysql_project
    db = p.db
    seed_table(db)
    p.write("0001_op.yaml", OPS["rename_column"]["migration"])
    p.ok("expand", "1")
    blue = Inserter(db)
    blue.start()
    try:
        proc = p.popen("backfill", "1", "--batch-size", "1", "--jobs", "2")
        wait_until(lambda: backfilled(db) >= 50, "the backfill to get going", proc=proc)
        holder = lock_holder(db)
        workers = wait_until(lambda: [s for s in migrate_sessions(db)
                                      if s[1] == "migrate/backfill" and s[0] != holder],
                             "the workers", proc=proc)
        kill(db, workers[0][0])
        rc, out, err = finish(proc)
    finally:
        blue.stop()
    assert rc == 3 and "error:" in err, (rc, out, err)
    assert backfilled(db) < SEED
    p.ok("backfill", "1", "--batch-size", "500", "--jobs", "2")
    p.ok("switch-reads", "1")
    got = dict(db.query("SELECT id, username FROM t WHERE id > %d" % SEED))
    assert got == blue.inserted


# -- the window, and its run without faults ------------------------------------------

LAST = {}    # what the last faulted command went through, for record()


def record(**fields):
    """One line of JSON per faulted run into $MIGRATE_FAULT_STATS (the
    benchmark tests/bench/fault_loop.py reads them); nothing without it."""
    path = os.environ.get("MIGRATE_FAULT_STATS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict(fields, database="mariadb", **LAST)) + "\n")


def run_again(project, command, args, what):
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


def window(server, make_project, op, label, last="contract", fault=None, at=None):
    """The whole window on a fresh database; fault(project, db, command,
    args) disrupts command `at`, which then runs again until it finishes.
    The old version writes after each command (and after the fault) as in
    test_mysql_faults. Returns (schema, rows); the database is dropped."""
    db = server.new_database(label)
    try:
        seed_table(db, op, WINDOW_ROWS)
        project = make_project(db, label)
        project.write("0001_op.yaml", OPS[op]["migration"])
        for n, command in enumerate(["expand", "backfill", "switch-reads", last], start=1):
            args = ["--batch-size", "20"] if command == "backfill" else []
            if command == at:
                what = fault(project, db, command, args)
            if command != "contract":       # blue is retired before contract
                blue_writes(db, op, n)
            if command == at:
                run_again(project, command, args, what)
            else:
                project.ok(command, "1", *args)
            if command not in ("contract", "rollback"):
                blue_writes(db, op, 10 + n)
        return schema(db), renumbered(rows(db))
    finally:
        db.drop()


def renumbered(table):
    """Rows with the application's inserts numbered in order: a restart
    forgets the AUTO_INCREMENT values InnoDB reserved but never used (the
    seed's INSERT ... SELECT reserves them in blocks), so the ids, not the
    rows, may differ from the run without faults."""
    out = []
    for k, row in enumerate(table):
        out.append(row if row[0] <= WINDOW_ROWS else (k + 1,) + tuple(row[1:]))
    return out


_reference = {}


def check_against_reference(server, make_project, op, label, at, fault):
    last = "rollback" if at == "rollback" else "contract"
    if (op, last) not in _reference:
        _reference[op, last] = window(server, make_project, op, "ref", last)
    want = _reference[op, last]
    got = window(server, make_project, op, label, last, fault, at)
    assert got[0] == want[0], "%s: schema differs:\n%s\n%s" % (label, got[0], want[0])
    assert got[1] == want[1], "%s: rows differ: %r" % (
        label, [(a, b) for a, b in zip(got[1], want[1]) if a != b][:5])


# -- KILL of the lock / verify session mid-step ------------------------------------------

def blocked_session(db, program, proc):
    """migrate's session `program` waiting for a metadata lock."""
    def find():
        return [s for s in migrate_sessions(db)
                if s[1] == program and "metadata lock" in s[2]]
    return wait_until(find, program + " to wait for a metadata lock", proc=proc,
                      every=0.005)[0][0]


def open_reader(db):
    """An application transaction that read t: it holds t's metadata lock
    until it ends, so DDL on t waits for it."""
    c = db.connect(program_name="app/reader")
    c.autocommit(False)
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        cur.fetchall()
    return c


def test_lock_session_killed_mid_index_build(mariadb_server, make_project):
    def fault(project, db, command, args):
        reader = open_reader(db)
        proc = project.popen(command, "1", *args)
        conn_id = blocked_session(db, "migrate/expand", proc)
        kill(db, conn_id)
        reader.rollback()
        reader.close()
        rc, _, err = finish(proc)
        assert rc == 3 and ("lost the advisory lock: its session (connection %d)"
                            % conn_id) in err, (rc, err)
        return "lock session killed in an index build"
    check_against_reference(mariadb_server, make_project, "create_index", "kill_index",
                            "expand", fault)


def test_verify_session_killed_mid_switch_reads(mariadb_server, make_project):
    def fault(project, db, command, args):
        locker = db.connect(program_name="app/locker")
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES t WRITE")
        proc = project.popen(command, "1", *args)
        conn_id = blocked_session(db, "migrate/switch-reads", proc)
        kill(db, conn_id)
        with locker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        locker.close()
        rc, _, err = finish(proc)
        assert rc == 3 and ("lost the advisory lock: its session (connection %d)"
                            % conn_id) in err, (rc, err)
        return "switch-reads session killed while it verified"
    check_against_reference(mariadb_server, make_project, "rename_column", "kill_verify",
                            "switch-reads", fault)


# -- server restarts ----------------------------------------------------------------

def test_server_restart_mid_backfill(mariadb_server, make_project):
    def fault(project, db, command, args):
        proc = project.popen(command, "1", "--batch-size", "1")
        wait_until(lambda: backfilled(db, WINDOW_ROWS) >= 30, "the backfill to get going",
                   proc=proc)
        db.close()
        mariadb_server.restart()
        rc, _, err = finish(proc)
        assert_named_error(rc, err, "restart mid-backfill")
        assert backfilled(db, WINDOW_ROWS) < WINDOW_ROWS
        return "server restarted mid-backfill"
    check_against_reference(mariadb_server, make_project, "rename_column", "restart_backfill",
                            "backfill", fault)


def test_server_restart_mid_index_build(mariadb_server, make_project):
    def fault(project, db, command, args):
        reader = open_reader(db)
        proc = project.popen(command, "1", *args)
        blocked_session(db, "migrate/expand", proc)
        mariadb_server.restart()    # ends the reader's session too
        reader.close()
        db.close()
        rc, _, err = finish(proc)
        assert_named_error(rc, err, "restart mid-index-build")
        return "server restarted in an index build"
    check_against_reference(mariadb_server, make_project, "create_index", "restart_index",
                            "expand", fault)


# -- SIGKILL at random moments ---------------------------------------------------------

_durations = {}


def timed(server, make_project):
    """How long each command takes here, to aim the kills inside it."""
    if not _durations:
        db = server.new_database("timing")
        try:
            seed_table(db, "rename_column", WINDOW_ROWS)
            project = make_project(db, "timing")
            project.write("0001_op.yaml", OPS["rename_column"]["migration"])
            for command in ("expand", "backfill", "switch-reads", "contract"):
                t0 = time.monotonic()
                project.ok(command, "1",
                           *(["--batch-size", "20"] if command == "backfill" else []))
                _durations[command] = time.monotonic() - t0
            _durations["rollback"] = _durations["contract"]
        finally:
            db.drop()
    return _durations


def sigkill_at_random(rng, durations):
    def fault(project, db, command, args):
        delay = rng.uniform(0, durations[command])
        proc = project.popen(command, "1", *args)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        rc, _, _ = finish(proc)
        LAST.update(delay=round(delay, 3), killed=rc in (-9, 137), exit=rc)
        return "SIGKILL %.3f s into %s (exit %s)" % (delay, command, rc)
    return fault


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_at_random_moments(mariadb_server, make_project, phase):
    rng = random.Random("mysql-sigkill-" + phase)
    durations = timed(mariadb_server, make_project)
    for i in range(ITERATIONS):
        LAST.clear()
        try:
            check_against_reference(mariadb_server, make_project, "rename_column",
                                    "kill_%s_%d" % (phase, i), phase,
                                    sigkill_at_random(rng, durations))
        except AssertionError as e:
            record(phase=phase, outcome="FAILED: " + str(e).splitlines()[0][:200])
            raise
        record(phase=phase, outcome="same as without faults")
