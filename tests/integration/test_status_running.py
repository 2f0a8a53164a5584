"""`status` knows what runs (issue 16): the lock's run record, the refusal
message of a second migrate, --wait-lock, status while a backfill runs,
and the next line it gives.

The holder in these tests is a real backfill slowed by --max-rows-per-sec
on a small table, so it holds the state file's lock for a few seconds
while the other commands meet it. The project's database URL carries the
password: the lock file, the refusal message and status must never show
it (every run's output is checked by the harness, the lock file here).
"""

import fcntl
import json
import re
import socket
import subprocess
import time

import pytest

from harness.project import RENAME_FILE, RENAME_YAML, seed_users
from harness.secrets import APP_PASSWORD, SECRETS

ROWS = 60


def slow_backfill(p, rows_per_sec=20):
    """users with ROWS rows, 0001 expanded, and a backfill of them started
    at rows_per_sec in the background: (process, state lock path)."""
    for i in range(ROWS - 5):
        p.db.execute("INSERT INTO users (user_name) VALUES ('u%d')" % i)
    p.ok("expand")
    proc = p.popen("backfill", "--batch-size", "5", "--max-rows-per-sec", str(rows_per_sec))
    lock = p.state.parent / (p.state.name + ".lock")
    deadline = time.time() + 10
    while time.time() < deadline:
        # the backfill's own record, naming the migration once it is picked
        text = lock.read_text(errors="replace") if lock.exists() else ""
        if text.startswith("%d\n" % proc.pid) and '"migration":"0001' in text:
            return proc, lock
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the backfill never recorded itself in the lock file")


def finish(proc):
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def assert_no_password(text):
    for s in SECRETS:
        assert s not in text, "a password leaked"


USERS_MYSQL = ("CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
               "user_name VARCHAR(100) NOT NULL, email VARCHAR(200))")


@pytest.mark.targets("postgres", "mariadb")
def test_lock_record_and_refusal_name_the_holder(target):
    p = target.project
    if target.is_pg:
        seed_users(p.db)
    else:
        p.db.execute(USERS_MYSQL)
        p.db.execute("INSERT INTO users (user_name) VALUES ('a'), ('b'), ('c'), ('d'), ('e')")
    p.write(RENAME_FILE, RENAME_YAML)
    proc, lock = slow_backfill(p)
    try:
        text = lock.read_text()
        first, record = text.split("\n", 1)
        # the pid alone on the first line (older versions read it)
        assert int(first) == proc.pid
        rec = json.loads(record)
        assert rec["host"] == socket.gethostname()
        assert rec["pid"] == proc.pid and rec["command"] == "backfill"
        assert rec["migration"] == "0001_rename_user_name", rec
        assert rec["started_at"].endswith("Z")
        # the command line is there, the password is not
        assert "--max-rows-per-sec 20" in rec["command_line"], rec
        assert "://app:****@" in rec["command_line"], rec
        assert_no_password(text)

        r = p.expect(3, "expand")
        msg = r.err
        want = ("is locked by another migrate: `migrate backfill` on host %s (pid %d), "
                "running since" % (socket.gethostname(), proc.pid))
        assert want in msg, msg
        assert re.search(r"running since \d\d:\d\d:\d\d UTC \(\d+(ms|s)? ago\)", msg), msg
        assert "--wait-lock" in msg and "hint:" in msg, msg

        st = p.json("status")
        assert st["running"]["pid"] == proc.pid, st["running"]
        assert st["running"]["migration"] == "0001_rename_user_name"
        assert st["next"].startswith("wait for the running `migrate backfill`"), st["next"]
    finally:
        finish(proc)


def test_lock_record_hides_conninfo_and_option_passwords(users_project):
    """--database=URL and a libpq conninfo string: the record shows where,
    never the password."""
    p = users_project
    db = p.db
    p.ok("expand")
    conninfo = ("host=%s port=%d user=app password=%s dbname=%s"
                % (db.server.host, db.server.port, APP_PASSWORD, db.name))
    lock = p.state.parent / (p.state.name + ".lock")
    for how, shown in ((["--database=" + db.url], "--database=postgresql://app:****@"),
                       (["-d", conninfo], "password=****")):
        # rollback takes the lock and writes its record (it then rolls
        # 0001 back: the next round expands it again)
        argv = [p.bin, *how, "-m", str(p.migrations), "--state", str(p.state),
                "rollback", "--wait-lock", "5s"]
        held = open(lock, "a+")
        fcntl.flock(held, fcntl.LOCK_EX)          # it waits a moment, then runs
        proc = subprocess.Popen(argv, cwd=str(p.dir), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        first = proc.stderr.readline()            # it says that it waits
        fcntl.flock(held, fcntl.LOCK_UN)
        held.close()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, first + err
        assert "is locked by another migrate" in first and "waiting up to 5s" in first, first
        assert_no_password(first + out + err)
        text = lock.read_text()
        assert_no_password(text)
        rec = json.loads(text.split("\n", 1)[1])
        assert rec["pid"] == proc.pid and shown in rec["command_line"], rec
        p.ok("expand")


def test_wait_lock_waits_for_the_holder_then_runs(users_project):
    p = users_project
    proc, lock = slow_backfill(p)
    try:
        # too short: exit 3, saying how long it waited and who holds it
        t0 = time.time()
        r = p.expect(3, "switch-reads", "--wait-lock", "400ms")
        assert 0.35 < time.time() - t0 < 5, time.time() - t0
        assert "waiting up to 400ms for it (--wait-lock)" in r.err, r.err
        assert "still, after waiting" in r.err and "`migrate backfill`" in r.err, r.err
        # long enough: it runs once the backfill has finished
        t0 = time.time()
        r = p.ok("switch-reads", "--wait-lock", "30s")
        assert "got the lock of" in r.err, r.err
        assert proc.poll() is not None, "switch-reads ran while the backfill held the lock"
    finally:
        finish(proc)
    assert p.phases() == {1: "switched"}


def test_status_while_a_backfill_runs(users_project):
    p = users_project
    proc, lock = slow_backfill(p)
    try:
        time.sleep(1.2)          # a progress reading or two
        r = p.ok("status")
        out = r.out
        m = re.search(r"^running:  `migrate backfill` on host (\S+) \(pid (\d+)\), running since", out, re.M)
        assert m, out
        assert m.group(1) == socket.gethostname() and int(m.group(2)) == proc.pid
        # its live progress, from the record beside the lock
        assert re.search(r'^          backfill 0001_rename_user_name of "public"\."users" \d+% '
                         r'\(\d+/60 rows, [\d,]+ rows/s', out, re.M), out
        nxt = [line for line in out.splitlines() if line.startswith("next:")]
        assert nxt and "wait for the running `migrate backfill`" in nxt[0], out
        # the table fits: the BACKFILL column says the run, no overflow
        row = [line for line in out.splitlines() if line.startswith("0001")][0]
        assert "running or stopped" not in row, row
        assert re.search(r"^0001\s+0001_rename_user_name\s+expanded\s+\d+% running\s+\d+/60 rows$",
                         row), row
        assert row.index("running") < 6 + 1 + 36 + 1 + 11 + 1 + 22, row

        st = p.json("status")
        run = st["running"]
        assert run["pid"] == proc.pid and run["command"] == "backfill", run
        assert run["host"] == socket.gethostname()
        assert "****" in run["command_line"]
        prog = run["progress"]
        assert prog["phase"] == "backfill" and prog["rows_total"] == 60, prog
        assert 0 < prog["rows_done"] < 60 and prog["state"] in ("running", "throttled"), prog
        assert prog["text"].startswith("backfill 0001_rename_user_name of"), prog
        assert st["next"].startswith("wait for the running `migrate backfill`"), st["next"]
        assert st["migrations"][0]["backfill"] is None or \
            st["migrations"][0]["backfill"]["running"] is True
    finally:
        finish(proc)
    # once it ended nothing runs, and the lock record is stale: not shown
    st = p.json("status")
    assert st["running"] is None
    assert st["next"] == "migrate switch-reads 0001"
    assert "running:" not in p.ok("status").out


def test_a_stale_lock_record_is_ignored(users_project):
    """A lock file whose holder is gone (kill -9 leaves the record): status
    shows nothing running, and the next command takes the lock."""
    p = users_project
    proc, lock = slow_backfill(p, rows_per_sec=10)
    proc.kill()
    proc.wait()
    assert lock.read_text().startswith(str(proc.pid))
    st = p.json("status")
    assert st["running"] is None and not st["next"].startswith("wait"), st
    p.ok("backfill")


SECOND = """
operations:
  - add_column:
      table: users
      column: score
      type: integer
      default: "0"
      backfill: "length(user_name)"
"""


def test_next_after_switch_reads_names_the_lowest_to_contract(users_project):
    p = users_project
    p.write("0002_add_score.yaml", SECOND)
    p.ok("expand", "1")
    p.ok("backfill", "1")
    r = p.ok("switch-reads", "1")
    assert "next: migrate contract 0001" in r.err, r.err
    p.ok("expand", "2")
    p.ok("backfill", "2")
    r = p.ok("switch-reads", "2")
    # 0002 cannot be contracted before 0001: the next step is 0001's
    assert "next: migrate contract 0001" in r.err, r.err
    assert "contract 0002" not in r.err, r.err


def test_contract_next_without_colours_says_register_first(users_project):
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    st = p.json("status")
    assert "no colour is registered" in st["next"], st["next"]
    assert "migrate colour register" in st["next"], st["next"]
    assert "no alive colour needs the old schema" not in st["next"]
    # with the running version registered, the gate speaks for it
    p.ok("colour", "register", "blue", "--app-version", "v2", "--requires", "1",
         "--match", "app-blue*")
    st = p.json("status")
    assert st["next"].startswith("migrate contract 0001"), st["next"]


INDEX = """
operations:
  - create_index:
      table: users
      name: users_email_idx
      columns: [email]
"""


def test_index_build_reports_the_transaction_it_waits_for(users_project):
    """CREATE INDEX CONCURRENTLY waits for every older transaction, also
    one that never touches the table: expand says which session it waits
    for (pid, application, how long), status shows it, and the build
    ends once that transaction does."""
    p = users_project
    p.write("0001_rename_user_name.yaml", INDEX)
    report = p.db.connect(autocommit=False, application_name="report")
    report.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    report.execute("SELECT 1").fetchall()          # holds its snapshot, no table lock
    pid = report.info.backend_pid
    proc = p.popen("expand")
    lines, seen = [], None
    deadline = time.time() + 20
    try:
        while time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "waiting for" in line and "build index public.users_email_idx" in line:
                seen = line
                break
        assert seen, "".join(lines)
        assert seen.startswith("expand 0001: build index public.users_email_idx: waiting for old snapshots: "
                               "waiting for 1 transaction older than the build: pid %d app 'report' "
                               "idle in transaction for " % pid), seen
        assert seen.rstrip().endswith(": end it or wait"), seen
        # status shows the run and the wait (published as its step)
        st = p.json("status")
        assert st["running"] is not None, st
        assert st["running"]["command"] == "expand", st["running"]
        prog = st["running"]["progress"]
        assert prog["phase"] == "expand" and prog["state"] == "paused", prog
        assert "pid %d app 'report'" % pid in prog["step"], prog
        assert st["next"].startswith("wait for the running `migrate expand`"), st["next"]
    finally:
        report.rollback()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + err
    # one line per change of phase or of the session waited for, not one per reading
    assert len([x for x in lines + err.splitlines() if "waiting for old snapshots" in x]) == 1, \
        "".join(lines) + err
    # the live progress file goes with the run
    assert not (p.state.parent / (p.state.name + ".run.json")).exists()
    assert p.db.query("SELECT indisvalid FROM pg_index "
                      "WHERE indexrelid = 'users_email_idx'::regclass") == [(True,)]
