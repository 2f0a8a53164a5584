#!/usr/bin/python3
"""Schema change benchmark on MariaDB (issues 5 and 15): the same user task
done by `migrate` (expand, backfill, switch-reads, contract) and by
pt-online-schema-change, on a table of N rows under a concurrent sysbench
oltp_read_write load, with one UPDATE of the whole column (the ceiling of
an update in place) and, with --with-alter, a blocking ALTER TABLE ...
ALGORITHM=COPY for reference.

Not part of the test suite: it starts a throwaway MariaDB
(tests/mariadb_server.sh) in a temporary directory, prints markdown tables
and changes nothing outside that directory. Run it from the repository
after building:

    /usr/bin/python3 tests/bench/mysql_bench.py [--rows 1000000] [--rate 200]
                                                [--bin build/migrate]
    # issue 15: unthrottled, then at 200 tx/s; this build against an older one
    /usr/bin/python3 tests/bench/mysql_bench.py --rates 0,200 --bin-before OLD/migrate

    --rows 20000 is a quick check of the script; --estimate prints the plan
    and its estimated duration and runs nothing (the estimate is also the
    first line of every run; stderr gets the time left after each method).

Needs: mariadb-server, sysbench, percona-toolkit, python3-pymysql and time
(GNU time, for the peak RSS):
    apt-get install -y mariadb-server sysbench percona-toolkit python3-pymysql time

The table is sysbench's own sbtest1 (id int auto_increment primary key,
k int with index k_1, c char(120), pad char(60)), made once with
`sysbench oltp_read_write --tables=1 --table-size=N prepare` and copied
fresh (its tablespace imported: no dead rows; read into the buffer pool,
dirty pages flushed) before every method. The load is sysbench
oltp_read_write, 4 threads at a fixed --rate (0: unthrottled), through a small Lua
wrapper that logs every transaction (start, latency, error) and retries
deadlocks, lock wait timeouts and error 1020 as sysbench itself does by default. The
tasks:

  (a) rename column c (char(120)) to c_new;
  (b) change k from int to bigint: pt-osc and ALTER keep the name k, while
      migrate's alter_column moves the values into a new column k_new.

sysbench plays the old application version and reads c and k by name. The
rename breaks it under every method: the ALTER when it ends, pt-osc when it
swaps the tables, migrate only at contract (in a real deploy the old
version is gone by then). The type change breaks it under migrate only, at
contract, since k_new is a new name. These failures are counted, not
hidden; the load stops right after the tool finishes. What "caused by
migrate" means (issue 15's targets): for migrate, the main figures count
the transactions that started from the start of expand and ended before
the start of contract, the window in which the old version may run;
contract's are shown apart.
"""

import argparse
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parents[2]
USER = "bench"
DB = "sbtest"           # where every method runs (sysbench's default name)
BASE_DB = "sbbase"      # the pristine copy
RETRIED = (1213, 1205, 1020)    # sysbench's default --mysql-ignore-errors
TOOL_TIMEOUT = 600      # seconds; a hung tool is killed, the bench goes on
SLOW_MS = 100           # a transaction slower than this counts as stalled (issue 15)

# The load: oltp_read_write, every event timed and logged by this wrapper.
# A deadlock, lock wait timeout or error 1020 restarts the transaction (sysbench's
# default for these codes; the retries are counted); any other error ends
# it: it is rolled back, logged as failed, and the next event starts.
HOOK_LUA = r"""
package.path = "/usr/share/sysbench/?.lua;" .. package.path
dofile("/usr/share/sysbench/oltp_read_write.lua")
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long mgb_sec; long mgb_nsec; } mgb_timespec;
int mgb_clock_gettime(int clk, mgb_timespec *tp) __asm__("clock_gettime");
]]
local ts = ffi.new("mgb_timespec")
local function now()
  ffi.C.mgb_clock_gettime(0, ts)   -- CLOCK_REALTIME, as Python's time.time()
  return tonumber(ts.mgb_sec) + tonumber(ts.mgb_nsec) * 1e-9
end
local RETRY = { [1213] = true, [1205] = true, [1020] = true }
local log_dir = os.getenv("MGB_LOG_DIR")
local stop_file = os.getenv("MGB_STOP_FILE")
local out
local orig_init = thread_init
function thread_init(...)
  orig_init(...)
  out = assert(io.open(string.format("%s/events.%d", log_dir, sysbench.tid), "w"))
  out:setvbuf("line")
end
local orig_done = thread_done
function thread_done(...)
  if out then out:close() end
  return orig_done(...)
end
local orig_event = event
function event(...)
  local t0 = now()
  local retries, retried, errno, msg = 0, {}, 0, ""
  while true do
    local ok, err = pcall(orig_event, ...)
    if ok then break end
    if type(err) ~= "table" or err.errcode ~= sysbench.error.RESTART_EVENT then
      error(err, 0)
    end
    if sysbench.hooks.before_restart_event then
      sysbench.hooks.before_restart_event(err)
    end
    local e = tonumber(err.sql_errno) or -1
    if RETRY[e] and retries < 100 then
      retries = retries + 1
      retried[#retried + 1] = tostring(e)
    else
      errno = e
      msg = tostring(err.sql_errmsg or ""):gsub("%s+", " ")
      pcall(function() con:query("ROLLBACK") end)
      break
    end
  end
  out:write(string.format("%.6f %.3f %d %s %d %s\n", t0, (now() - t0) * 1000,
                          retries, retries > 0 and table.concat(retried, ",") or "-",
                          errno, msg))
  if stop_file then
    local f = io.open(stop_file, "r")
    if f then f:close(); return true end
  end
end
"""

TASKS = [
    {
        "key": "rename",
        "title": "(a) rename column c (char(120)) to c_new",
        "alter": "ALTER TABLE sbtest1 CHANGE COLUMN c c_new CHAR(120) NOT NULL DEFAULT '', "
                 "ALGORITHM=COPY",
        "update_prep": "ALTER TABLE sbtest1 ADD COLUMN c_new CHAR(120) NULL",
        "update": "UPDATE sbtest1 SET c_new = c",
        "ptosc_alter": "CHANGE COLUMN c c_new CHAR(120) NOT NULL DEFAULT ''",
        # pt-osc refuses a column rename without it ("--check-alter failed")
        "ptosc_flags": ["--no-check-alter"],
        "migration": textwrap.dedent("""\
            description: rename sbtest1.c to c_new
            operations:
              - rename_column:
                  table: sbtest1
                  from: c
                  to: c_new
            """),
        # expected columns after each method: {column: type prefix}, and gone
        "end_tool": ({"c_new": "char(120)"}, ["c"]),
        "end_migrate": ({"c_new": "char(120)"}, ["c"]),
    },
    {
        "key": "type",
        "title": "(b) change column k from int to bigint",
        "alter": "ALTER TABLE sbtest1 MODIFY k BIGINT NOT NULL DEFAULT 0, ALGORITHM=COPY",
        "update_prep": "ALTER TABLE sbtest1 ADD COLUMN k_new BIGINT NULL",
        "update": "UPDATE sbtest1 SET k_new = k",
        "ptosc_alter": "MODIFY k BIGINT NOT NULL DEFAULT 0",
        "ptosc_flags": [],
        "migration": textwrap.dedent("""\
            description: sbtest1.k (int) becomes k_new (bigint)
            operations:
              - alter_column:
                  table: sbtest1
                  column: k
                  to: k_new
                  type: bigint
                  up: "k"
                  down: "k_new"
            """),
        "end_tool": ({"k": "bigint"}, []),
        "end_migrate": ({"k_new": "bigint"}, ["k"]),
    },
]


LEGEND = f"""
Columns: wall = the tool's run (for migrate, from the start of expand to the
end of contract). backfill s, rows/s = migrate's backfill phase (the
process, start to exit) and the table's rows over it; for the one UPDATE,
the statement (the ceiling of an update in place). tx ok, p50, p99 = the
sysbench transactions that started during the run and committed, timed by
the wrapper; for migrate, those that started from the start of expand
and ended before the start of contract: the window in which the old
version runs (one still running when contract starts is contract's), so every
error or retry in it is the migration's doing (contract drops the old
column the old version reads: its figures are under "contract" and in the
per-phase table). p99 / idle = that p99 over the idle run's p99 under the
same load. worst = the longest transaction that started in the window,
failed or not. tx > {SLOW_MS} ms = transactions that started in the
window and took longer, failed or not. failed tx = transactions ended by
an error that a retry does not cure (which error, and when the first came,
is listed under the table). retried = deadlocks, lock wait timeouts and
error 1020, retried within the transaction. sysbench worst-second p99, max
queue = from sysbench's per-second reports that overlap the run ("-" when
the run was shorter than one report; the queue stays 0 unthrottled).
InnoDB deadlocks / row lock waits = the server's Innodb_deadlocks and
Innodb_row_lock_waits over the run, every session (a deadlock on a
metadata lock, as DDL can cause, is retried by sysbench but not counted
by InnoDB; idle's row gives the load's own share).
sysbench errors / reconnects = sysbench's own totals for the whole load:
warm-up, run and stop. peak RSS = of the tool process (GNU time)."""


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def first_line(text, prefer=None):
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if prefer:
        for ln in lines:
            if ln.startswith(prefer):
                return ln
    return lines[0] if lines else "(no output)"


# ---- the server ------------------------------------------------------------------------------

class Server:
    def __init__(self, base):
        self.dir = base / "mdb"
        sh("sh", str(ROOT / "tests/mariadb_server.sh"), "start", str(self.dir))
        self.port = int((self.dir / "port").read_text().strip())
        self.socket = (self.dir / "socket").read_text().strip()
        self.password = "b-" + secrets.token_hex(8)
        with self.root() as c, c.cursor() as cur:
            # pt-osc needs PROCESS, TRIGGER, SUPER-like rights over the table
            # and its copy; migrate needs PROCESS and performance_schema
            # (docs/grants.md): a throwaway user with everything
            cur.execute(f"CREATE USER '{USER}'@'%%' IDENTIFIED BY %s", (self.password,))
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'")
            # tests/mariadb_server.sh starts with durability off (its data is
            # thrown away); measure with realistic settings instead
            cur.execute("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
            # an SSD-like I/O budget for the page cleaner (the default 200
            # pages/s left the pre-method flush waiting minutes at 1M rows)
            cur.execute("SET GLOBAL innodb_io_capacity_max = 4000")
            cur.execute("SET GLOBAL innodb_io_capacity = 2000")
            cur.execute("SELECT @@log_bin")
            if int(cur.fetchone()[0]):
                cur.execute("SET GLOBAL sync_binlog = 1")
            # a buffer pool that holds the table and a copy of it (pt-osc
            # and ALGORITHM=COPY build one), and a redo log not much smaller
            # than the table, as a production server would have
            cur.execute("SET GLOBAL innodb_buffer_pool_size = 1073741824")
            cur.execute("SET GLOBAL innodb_log_file_size = 536870912")
        self.wait_resize()

    def wait_resize(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = self.status("Innodb_buffer_pool_resize_status")
            if not st or "ompleted" in st or "not started" in st.lower():
                return
            time.sleep(0.2)

    def root(self, db=None):
        return pymysql.connect(unix_socket=self.socket, user="root", password="",
                               database=db, autocommit=True, charset="utf8mb4")

    def connect(self, db=DB):
        return pymysql.connect(host="127.0.0.1", port=self.port, user=USER,
                               password=self.password, database=db, autocommit=True,
                               charset="utf8mb4")

    def query(self, sql, db=None):
        with self.root(db) as c, c.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def status(self, name):
        rows = self.query(f"SHOW GLOBAL STATUS LIKE '{name}'")
        return rows[0][1] if rows else None

    def settings(self):
        r = self.query("SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin, "
                       "@@sync_binlog, @@innodb_doublewrite, @@innodb_buffer_pool_size, "
                       "@@innodb_log_file_size, @@innodb_flush_method")[0]
        ver, flush, log_bin, sync_binlog, dblwr, bp, logsz, method = r
        binlog = f"binary log on, sync_binlog={sync_binlog}" if int(log_bin) else "no binary log"
        return ver, (f"innodb_flush_log_at_trx_commit={flush}, {binlog}, "
                     f"doublewrite {'on' if int(dblwr) else 'off'}, "
                     f"buffer pool {int(bp) >> 20} MiB, redo log {int(logsz) >> 20} MiB, "
                     f"flush method {method}")

    def url(self):
        return f"mysql://{USER}:{self.password}@127.0.0.1:{self.port}/{DB}"


def make_base(srv, args):
    srv.query(f"CREATE DATABASE {BASE_DB}")
    sh(args.sysbench, "oltp_read_write", *sysbench_conn(srv, BASE_DB),
       "--tables=1", f"--table-size={args.rows}", "prepare")
    srv.query(f"ANALYZE TABLE {BASE_DB}.sbtest1")


def fresh_table(srv, how="import"):
    """Database sbtest holding sbtest1, a fresh copy of the base: the same
    rows, no dead rows, nothing left from an earlier method (migrate's
    history table included), analysed, read into the buffer pool, dirty
    pages flushed. how "import" copies the base's tablespace file
    (FLUSH TABLES ... FOR EXPORT, ALTER TABLE ... IMPORT TABLESPACE): the
    very pages sysbench prepare wrote (0.5 to 0.9 s at 100,000 rows on
    the busy VM, where INSERT ... SELECT and the flush took 3 to 6 s); "insert"
    copies the rows with INSERT ... SELECT (the index k_1 then grows by
    random inserts instead of the sorted build of sysbench prepare).
    Returns how it was done: an import that fails falls back to insert."""
    srv.query(f"DROP DATABASE IF EXISTS {DB}")
    srv.query(f"CREATE DATABASE {DB}")
    srv.query(f"CREATE TABLE {DB}.sbtest1 LIKE {BASE_DB}.sbtest1")
    if how == "import":
        try:
            import_base(srv)
        except (OSError, pymysql.MySQLError) as e:
            print(f"(tablespace import failed, copying with INSERT ... SELECT from now on: {e})",
                  file=sys.stderr, flush=True)
            how = "insert"
            srv.query(f"DROP TABLE IF EXISTS {DB}.sbtest1")
            srv.query(f"CREATE TABLE {DB}.sbtest1 LIKE {BASE_DB}.sbtest1")
    if how == "insert":
        srv.query(f"INSERT INTO {DB}.sbtest1 SELECT * FROM {BASE_DB}.sbtest1 ORDER BY id")
    srv.query(f"ANALYZE TABLE {DB}.sbtest1")
    # every page of both indexes in the buffer pool, as after an insert
    srv.query(f"SELECT COUNT(*), SUM(LENGTH(c)) FROM {DB}.sbtest1 FORCE INDEX (PRIMARY)")
    srv.query(f"SELECT COUNT(*) FROM {DB}.sbtest1 FORCE INDEX (k_1)")
    settle(srv)
    return how


def import_base(srv):
    datadir = Path(srv.query("SELECT @@datadir")[0][0])
    srv.query(f"ALTER TABLE {DB}.sbtest1 DISCARD TABLESPACE")
    with srv.root() as c, c.cursor() as cur:
        cur.execute(f"FLUSH TABLES {BASE_DB}.sbtest1 FOR EXPORT")
        try:
            for ext in ("ibd", "cfg"):
                shutil.copyfile(datadir / BASE_DB / f"sbtest1.{ext}",
                                datadir / DB / f"sbtest1.{ext}")
        finally:
            cur.execute("UNLOCK TABLES")
    srv.query(f"ALTER TABLE {DB}.sbtest1 IMPORT TABLESPACE")


def settle(srv, timeout=120):
    """The counterpart of PostgreSQL's CHECKPOINT: write the dirty pages
    now, so that no method pays for an earlier one's."""
    pct = srv.query("SELECT @@innodb_max_dirty_pages_pct")[0][0]
    srv.query("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if int(srv.status("Innodb_buffer_pool_pages_dirty") or 0) < 64:
                break
            time.sleep(0.2)
    finally:
        srv.query(f"SET GLOBAL innodb_max_dirty_pages_pct = {pct}")


def columns(srv):
    return {r[0]: r[1] for r in srv.query(f"SHOW COLUMNS FROM {DB}.sbtest1")}


def end_state_note(srv, expected):
    """'' if sbtest1 ends as expected, else what is wrong."""
    want, gone = expected
    cols = columns(srv)
    bad = []
    for name, typ in want.items():
        if name not in cols:
            bad.append(f"no column {name}")
        elif not cols[name].lower().startswith(typ):
            bad.append(f"{name} is {cols[name]}, not {typ}")
    bad += [f"{name} still there" for name in gone if name in cols]
    return "; ".join(bad)


# ---- the load ---------------------------------------------------------------------------------

def sysbench_conn(srv, db):
    return ["--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={srv.port}",
            f"--mysql-user={USER}", f"--mysql-password={srv.password}", f"--mysql-db={db}"]


def load_options(srv, args, rate):
    """The sysbench options of the load, for the report. rate 0 is
    sysbench's own "no limit": every thread starts its next transaction as
    soon as the last one ends."""
    return [*sysbench_conn(srv, DB), "--tables=1", f"--table-size={args.rows}",
            f"--threads={args.threads}", f"--rate={rate}", "--time=0",
            "--report-interval=1", "--percentile=99", "--mysql-ignore-errors=all", "run"]


class Load:
    """sysbench oltp_read_write at a fixed rate (or unthrottled, rate 0) on
    sbtest.sbtest1, every transaction logged by HOOK_LUA."""

    def __init__(self, srv, base, args, label, rate):
        self.dir = base / f"sysbench-{label}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        hook = base / "oltp_read_write_logged.lua"
        if not hook.exists():
            hook.write_text(HOOK_LUA)
        self.stop_file = self.dir / "stop"
        self.out = self.dir / "sysbench.out"
        env = dict(os.environ, MGB_LOG_DIR=str(self.dir), MGB_STOP_FILE=str(self.stop_file))
        self.cmd = [args.sysbench, str(hook), *load_options(srv, args, rate)]
        with open(self.out, "w") as f:
            self.proc = subprocess.Popen(self.cmd, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=subprocess.STDOUT)
        # running once every thread has logged a transaction; then a warm-up
        deadline = time.monotonic() + 60
        while len(self.event_files()) < args.threads or \
                any(p.stat().st_size == 0 for p in self.event_files()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"sysbench did not start:\n{self.out.read_text()[-3000:]}")
            time.sleep(0.1)
        time.sleep(args.warmup)

    def event_files(self):
        return list(self.dir.glob("events.*"))

    def stop(self):
        """Each thread ends after its current transaction."""
        self.stop_file.touch()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def events(self):
        """[(start epoch s, latency ms, retries, errno, message, retried
        errnos)]"""
        out = []
        for f in self.event_files():
            for line in f.read_text().split("\n"):
                p = line.split(" ", 5)
                if len(p) >= 5:
                    out.append((float(p[0]), float(p[1]), int(p[2]), int(p[4]),
                                p[5] if len(p) > 5 else "",
                                [] if p[3] == "-" else p[3].split(",")))
        out.sort()
        return out

    def reports(self):
        """sysbench's own figures: per-second reports [(second, p99 ms, queue
        length)] and the totals of the whole run (ignored errors, reconnects)."""
        text = self.out.read_text()
        p99 = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
            r"^\[ (\d+)s \] thds: .* lat \(ms,99%\): ([\d.]+) err/s", text, re.M)}
        queue = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
            r"^\[ (\d+)s \] queue length: (\d+)", text, re.M)}
        per_s = [(s, p99[s], queue.get(s, 0)) for s in sorted(p99)]
        err = re.search(r"ignored errors:\s+(\d+)", text)
        rec = re.search(r"reconnects:\s+(\d+)", text)
        return per_s, (int(err.group(1)) if err else None), (int(rec.group(1)) if rec else None)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def window_stats(events, t_from, t_to):
    """Figures of the transactions that started within [t_from, t_to]."""
    return event_stats([e for e in events if t_from <= e[0] <= t_to], t_to - t_from)


def ended(e):
    return e[0] + e[1] / 1000.0


def event_stats(ev, span):
    """p50/p99 over the transactions that committed, worst over all of
    them (a transaction that waited and then failed stalled too), and how
    many took longer than SLOW_MS, failed or not."""
    ok = [e[1] for e in ev if e[3] == 0]
    failed = [e for e in ev if e[3] != 0]
    return {
        "ok": len(ok), "p50": pct(ok, 50), "p99": pct(ok, 99),
        "worst": max((e[1] for e in ev), default=float("nan")),
        "slow": sum(1 for e in ev if e[1] > SLOW_MS),
        "failed": len(failed), "retried": sum(e[2] for e in ev),
        "failures": failed,
        "retry_codes": sorted({c for e in ev for c in e[5]}),
        "span": span,
    }


def innodb_counters(srv):
    """InnoDB's own counts: deadlocks it resolved (row locks only; a
    metadata-lock deadlock, as DDL can cause, is not among them) and row
    lock waits, of every session."""
    out = {}
    for key, name in (("deadlocks", "Innodb_deadlocks"), ("lock_waits", "Innodb_row_lock_waits")):
        v = srv.status(name)
        out[key] = int(v) if v is not None else None
    return out


def counter_delta(a, b):
    return {k: None if a[k] is None or b[k] is None else b[k] - a[k] for k in a}


def measure(srv, base, args, label, action, rate):
    """Run action() under the load. action returns (ok, note, phases) where
    phases is [(name, t_start, t_end, rss KiB or None)].

    The figures of a run are those of the transactions that started while
    the tool ran. For migrate they are split: "main" covers those that
    ended before the start of contract, the window in which the old version (sysbench) may
    still run and every error or retry is the migration's doing; contract
    drops the old column the old version reads, so its failures are the
    deploy's and are kept apart in "contract"."""
    load = Load(srv, base, args, label, rate)
    c0 = innodb_counters(srv)
    t0 = time.time()
    try:
        ok, note, phases = action()
    finally:
        t1 = time.time()
        c1 = innodb_counters(srv)
        load.stop()      # right after the tool: what fails after it is not counted
    events = load.events()
    per_s, sb_err, sb_rec = load.reports()
    start = events[0][0] if events else t0
    # sysbench's report "[ k s ]" covers about (start + k - 1, start + k]
    in_win = [(p, q) for s, p, q in per_s if start + s > t0 and start + s - 1 < t1]
    r = window_stats(events, t0, t1)
    r.update({
        "label": label, "wall": t1 - t0, "ok_run": ok, "note": note, "phases": [],
        "sb_p99": max((p for p, _ in in_win), default=float("nan")),
        "sb_queue": max((q for _, q in in_win), default=0),
        "sb_err": sb_err, "sb_rec": sb_rec,
        "rss": max((ph[3] for ph in phases if ph[3]), default=None),
        "t0": t0, "rate": rate, "contract": None, "innodb": counter_delta(c0, c1),
    })
    for i, (name, a, b, rss, *counters) in enumerate(phases):
        nxt = phases[i + 1][1] if i + 1 < len(phases) else t1
        ph = window_stats(events, a, nxt)
        ph.update({"name": name, "took": b - a, "rss": rss, "t_start": a,
                   "innodb": counter_delta(*counters) if counters else None})
        r["phases"].append(ph)
    contract = [ph for ph in r["phases"] if ph["name"].startswith("contract")]
    if contract:
        # a transaction that started before contract but was still running
        # when it began is contract's: the old column may be gone under it
        tc = contract[0]["t_start"]
        run = [e for e in events if t0 <= e[0] <= t1]
        r["main"] = event_stats([e for e in run if ended(e) < tc], tc - t0)
        r["contract"] = event_stats([e for e in run if ended(e) >= tc], t1 - tc)
    else:
        r["main"] = r
    return r


def backfill_seconds(r):
    """Seconds of migrate's backfill phase (the process, ANALYZE at its end
    included), None if it did not run to the end."""
    for ph in r["phases"]:
        if ph["name"].startswith("backfill") and not ph["name"].endswith("(failed)"):
            return ph["took"]
    return None


# ---- the methods ------------------------------------------------------------------------------

def run_tool(cmd, cwd, env=None, log=None):
    """(exit status, seconds, peak RSS KiB, output) of one tool process; GNU
    time reports the tool's own peak RSS."""
    rss_file = Path(cwd) / ".maxrss"
    rss_file.unlink(missing_ok=True)
    t0 = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-o", str(rss_file), "-f", "%M", *cmd], cwd=cwd,
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, errors="replace",
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        out = f"killed after {TOOL_TIMEOUT} s\n" + out
    took = time.monotonic() - t0
    if log:
        Path(log).write_text(out)
    rss = None
    try:
        rss = int(rss_file.read_text().strip().split("\n")[-1])
    except (OSError, ValueError, IndexError):
        pass
    return p.returncode, took, rss, out


def sql_action(srv, sql):
    def action():
        with srv.connect() as c, c.cursor() as cur:
            a = time.time()
            try:
                cur.execute(sql)
            except pymysql.MySQLError as e:
                return False, f"failed: {e.args[0]} {e.args[-1]}", [("the statement", a, time.time(), None)]
            return True, "", [("the statement", a, time.time(), None)]
    return action


def ptosc_command(srv, args, task):
    dsn = f"h=127.0.0.1,P={srv.port},u={USER},p={srv.password},D={DB},t=sbtest1"
    return [args.pt_osc, "--alter", task["ptosc_alter"], dsn, "--execute",
            "--no-check-replication-filters", "--recursion-method=none",
            "--alter-foreign-keys-method=auto", "--no-version-check", *task["ptosc_flags"]]


def shown(cmd, srv):
    """A command line as a shell would take it, the password left out."""
    def q(a):
        a = a.replace(srv.password, "PASSWORD")
        if re.fullmatch(r"[\w@%+=:,./-]+", a):
            return a
        if "'" in a and not re.search(r'["$`\\!]', a):
            return f'"{a}"'
        return "'" + a.replace("'", "'\\''") + "'"
    return " ".join(q(a) for a in cmd)


def ptosc_action(srv, base, args, task):
    def action():
        a = time.time()
        rc, took, rss, out = run_tool(ptosc_command(srv, args, task), base,
                                      log=base / f"pt-osc-{task['key']}.log")
        b = time.time()
        if rc != 0:
            line = [ln for ln in out.splitlines() if ln.strip()]
            return False, f"pt-osc failed (exit {rc}): {line[-1] if line else ''}", \
                [("pt-osc", a, b, rss)]
        return True, "", [("pt-osc", a, b, rss)]
    return action


def migrate_action(srv, base, args, task, label, backfill_opts, binary):
    proj = base / f"migrate-{label}"
    shutil.rmtree(proj, ignore_errors=True)
    (proj / "migrations").mkdir(parents=True)
    (proj / "migrations" / "0001_bench.yaml").write_text(task["migration"])
    env = dict(os.environ, MIGRATE_DATABASE_URL=srv.url())
    env.pop("MIGRATE_STATE", None)
    env.pop("MIGRATE_DIR", None)

    def action():
        phases = []
        for phase, opts in (("expand", []), ("backfill", backfill_opts),
                            ("switch-reads", []), ("contract", [])):
            c0 = innodb_counters(srv)
            a = time.time()
            rc, took, rss, out = run_tool([binary, phase, *opts, "-q"], proj, env=env,
                                          log=proj / f"{phase}.log")
            b = time.time()
            phases.append((f"{phase} {' '.join(opts)}".strip(), a, b, rss, c0,
                           innodb_counters(srv)))
            if rc != 0:
                phases[-1] = (phases[-1][0] + " (failed)",) + phases[-1][1:]
                return False, (f"migrate: not available: {phase} exit {rc}: "
                               f"{first_line(out, 'error')}"), phases
        return True, "", phases
    return action


# ---- the report -------------------------------------------------------------------------------

def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib else "-"


def ms(v):
    return "-" if v != v else f"{v:.2f}"


def load_desc(rate):
    return "unthrottled (--rate=0)" if rate == 0 else f"at {rate} tx/s"


def failure_note(r):
    """Which errors failed the transactions, and when the first one came."""
    if not r["failures"]:
        return ""
    kinds = {}
    for e in r["failures"]:
        key = f"{e[3]} {e[4]}".strip()
        kinds[key] = kinds.get(key, 0) + 1
    first = r["failures"][0][0] - r["t0"]
    where = ""
    for ph in r["phases"]:
        if any(f[0] == r["failures"][0][0] for f in ph["failures"]):
            where = f", in {ph['name']}"
    what = "; ".join(f"{n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return f"first at {first:.2f} s of {r['wall']:.2f} s{where}: {what}"


def ratio(a, b):
    if a != a or b != b or not b:
        return float("nan")
    return a / b


def rows_per_s(args, seconds):
    return args.rows / seconds if seconds else float("nan")


def fmt_rate(v):
    return "-" if v != v else f"{v:,.0f}"


def innodb_cell(d):
    if not d:
        return "-"
    return " / ".join("-" if d[k] is None else str(d[k]) for k in ("deadlocks", "lock_waits"))


def method_row(label, r, idle, args):
    m = r["main"]
    sb = f"{r['sb_err']} / {r['sb_rec']}" if r["sb_err"] is not None else "-"
    c = r["contract"]
    contract = f"{c['failed']} / {c['retried']}" if c else "-"
    if r["kind"] == "update":
        bf_s = r["wall"] if r["ok_run"] else None
    else:
        bf_s = backfill_seconds(r) if r["kind"] in MIGRATE_KINDS else None
    rq = ratio(m["p99"], idle["p99"])
    return (f"| {label} | {r['wall']:.1f} | {'-' if bf_s is None else f'{bf_s:.1f}'} "
            f"| {fmt_rate(rows_per_s(args, bf_s))} | {m['ok']} | {ms(m['p50'])} | {ms(m['p99'])} "
            f"| {'-' if rq != rq else f'{rq:.2f}x'} | {ms(m['worst'])} | {m['slow']} "
            f"| {m['failed']} | {m['retried']} | {contract} | {innodb_cell(r['innodb'])} "
            f"| {ms(r['sb_p99'])} "
            f"| {r['sb_queue']} | {sb} | {mib(r['rss'])} |")


def print_table(title, rows, idle, args, rate):
    print(f"\n### {title}, load {load_desc(rate)}\n")
    print(f"| method ({args.rows:,} rows, sysbench oltp_read_write {args.threads} threads "
          f"{load_desc(rate)}) | wall s | backfill s | rows/s | tx ok | p50 ms | p99 ms "
          f"| p99 / idle | worst ms | tx > {SLOW_MS} ms | failed tx | retried "
          f"| contract: failed / retried | InnoDB deadlocks / row lock waits "
          f"| sysbench worst-second p99 ms | sysbench max queue "
          f"| sysbench errors / reconnects | peak RSS |")
    print("|---|" + "---:|" * 17)
    notes = []
    for label, r in rows:
        if r is None:
            continue
        if not r["ok_run"] and r["note"].startswith("migrate: not available"):
            print(f"| {label} | {r['note']} |" + " |" * 16)
            continue
        if r["note"]:
            notes.append(f"- {label}: {r['note']}")
        print(method_row(label, r, idle, args))
        fn = failure_note(r)
        if fn:
            notes.append(f"- {label}, failed transactions: {fn}")
        if r["retry_codes"]:
            notes.append(f"- {label}, retried on error {', '.join(r['retry_codes'])}")
    if notes:
        print()
        print("\n".join(notes))
    for label, r in rows:
        if r is None or not r["phases"] or r["kind"] not in MIGRATE_KINDS:
            continue
        print(f"\n| {label}: phase | took s | tx ok | p50 ms | p99 ms | worst ms "
              f"| tx > {SLOW_MS} ms | failed tx | retried | InnoDB deadlocks / row lock waits "
              f"| peak RSS |")
        print("|---|" + "---:|" * 10)
        for ph in r["phases"]:
            print(f"| {ph['name']} | {ph['took']:.2f} | {ph['ok']} | {ms(ph['p50'])} "
                  f"| {ms(ph['p99'])} | {ms(ph['worst'])} | {ph['slow']} | {ph['failed']} "
                  f"| {ph['retried']} | {innodb_cell(ph['innodb'])} | {mib(ph['rss'])} |")
        if r["ok_run"]:
            print(f"| total | {r['wall']:.2f} | {r['ok']} | {ms(r['p50'])} | {ms(r['p99'])} "
                  f"| {ms(r['worst'])} | {r['slow']} | {r['failed']} | {r['retried']} "
                  f"| {innodb_cell(r['innodb'])} | {mib(r['rss'])} |")
    print(flush=True)


def print_rates(title, by_kind, args, rate):
    """The backfill's own rows/s against one UPDATE of the whole column
    (the ceiling), before and after."""
    up = by_kind.get("update")
    ceiling = rows_per_s(args, up["wall"]) if up and up["ok_run"] else float("nan")
    lines = []
    for name, after, before in (("default", "migrate", "before"),
                                ("--jobs 2", "migrate-j2", "before-j2")):
        if after not in by_kind and before not in by_kind:
            continue
        cells = []
        for kind in (after, before):
            r = by_kind.get(kind)
            s = backfill_seconds(r) if r else None
            v = rows_per_s(args, s) if s else float("nan")
            cells += ["-" if s is None else f"{s:.2f}", fmt_rate(v), (
                "-" if ratio(v, ceiling) != ratio(v, ceiling) else f"{ratio(v, ceiling):.2f}x")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not lines:
        return
    if ceiling == ceiling:
        print(f"\nBackfill rows/s, {title}, load {load_desc(rate)}: one `UPDATE` of the whole "
              f"column under the same load, {fmt_rate(ceiling)} rows/s, is the ceiling\n")
    else:
        print(f"\nBackfill rows/s, {title}, load {load_desc(rate)} (no ceiling: the one "
              f"`UPDATE` did not run)\n")
    print("| backfill | after s | after rows/s | after / ceiling | before s | before rows/s "
          "| before / ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines), flush=True)


def idle_share(idle, key, span):
    """What idle had of a count, scaled to a window of span seconds."""
    n = idle[key]
    return f"{n} in {idle['wall']:.0f} s ({n * span / idle['wall']:.1f} in {span:.0f} s)"


def target_rows(results, task_key, rate):
    """[(target, task, after, before, idle, met)] for one load, from the
    figures of the table; None for a target whose rows did not run."""
    by_kind = results[rate]["tasks"].get(task_key)
    idle = results[rate]["idle"]
    if not by_kind:
        return []
    out = []

    def both(kind_a, kind_b, f):
        vals = [f(by_kind[k]) if k in by_kind and by_kind[k]["ok_run"] else "-"
                for k in (kind_a, kind_b)]
        return " / ".join(vals)

    after = [by_kind[k] for k in ("migrate", "migrate-j2") if k in by_kind]
    if not after:
        return []
    done = all(r["ok_run"] for r in after)
    span = max(r["main"]["span"] for r in after)
    for key, name in (("failed", "zero application errors caused by migrate "
                                 "(failed tx, expand to switch-reads)"),
                      ("retried", "zero retried deadlocks / lock waits caused by migrate "
                                  "(expand to switch-reads)"),
                      ("slow", f"no transaction stalled over {SLOW_MS} ms by migrate "
                               f"(tx > {SLOW_MS} ms, expand to switch-reads)")):
        met = done and all(r["main"][key] == 0 for r in after)

        def cell(r, key=key):
            bf = [ph for ph in r["phases"] if ph["name"].startswith("backfill")]
            return f"{r['main'][key]} (backfill {bf[0][key]})" if bf else str(r["main"][key])
        out.append((name, both("migrate", "migrate-j2", cell), both("before", "before-j2", cell),
                    idle_share(idle, key, span), met))
    d = by_kind.get("migrate")
    if d:
        q = ratio(d["main"]["p99"], idle["p99"])
        out.append(("foreground p99 ≤ 1.5x idle, default settings (expand to switch-reads)",
                    both("migrate", "migrate-j2",
                         lambda r: f"{ms(r['main']['p99'])} ms ({ratio(r['main']['p99'], idle['p99']):.2f}x)"),
                    both("before", "before-j2",
                         lambda r: f"{ms(r['main']['p99'])} ms ({ratio(r['main']['p99'], idle['p99']):.2f}x)"),
                    f"{ms(idle['p99'])} ms", d["ok_run"] and q == q and q <= 1.5))
    return out


def wall_target(results, task_key, rate):
    by_kind = results[rate]["tasks"].get(task_key)
    if not by_kind or "ptosc" not in by_kind:
        return None
    pt = by_kind["ptosc"]

    def cell(kind):
        r = by_kind.get(kind)
        if not r or not r["ok_run"] or not pt["ok_run"]:
            return "-"
        return f"{r['wall']:.1f} s ({r['wall'] / pt['wall']:.2f}x)"
    j2 = by_kind.get("migrate-j2")
    met = bool(j2 and j2["ok_run"] and pt["ok_run"] and j2["wall"] <= pt["wall"])
    return ("whole change (expand to contract) ≤ 1.0x pt-osc's wall time with --jobs 2",
            f"{cell('migrate')} / {cell('migrate-j2')}", f"{cell('before')} / {cell('before-j2')}",
            f"pt-osc {pt['wall']:.1f} s" if pt["ok_run"] else "pt-osc failed",
            met if j2 else None)


def print_targets(results, args):
    """Issue 15's targets for MariaDB, computed from the tables above. The
    latency and error targets are read on the type task (the issue's own
    scenario: widening k), the wall time on the rename; each falls back to
    the other task when only one ran."""
    tasks = [t["key"] for t in TASKS if t["key"] in args.task_keys]
    lat_task = "type" if "type" in tasks else tasks[0]
    wall_task = "rename" if "rename" in tasks else tasks[0]
    print("\n### Issue 15's targets on MariaDB, from the tables above\n")
    print("| target | load | task | after: default / --jobs 2 | before: default / --jobs 2 "
          "| idle, pt-osc | |")
    print("|---|---|---|---:|---:|---:|---|")
    for rate in args.rate_list:
        rows = target_rows(results, lat_task, rate)
        w = wall_target(results, wall_task, rate)
        for name, a, b, ref, met in rows:
            print(f"| {name} | {load_desc(rate)} | {lat_task} | {a} | {b} | {ref} "
                  f"| {'met' if met else '**missed**'} |")
        if w:
            name, a, b, ref, met = w
            print(f"| {name} | {load_desc(rate)} | {wall_task} | {a} | {b} | {ref} "
                  f"| {'-' if met is None else 'met' if met else '**missed**'} |")
    print("\nThe issue's targets are those under the unthrottled load; the fixed-rate rows are "
          "the same figures for the other load. In parentheses: those of the backfill "
          "phase alone (transactions that started during it). \"Caused by migrate\" counts the transactions "
          "that started from the start of expand and ended before the start of contract "
          "(the window in which the old version runs); idle's count over its own run, scaled to that window, "
          "is the background the load has without any migration.", flush=True)


def version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        return first_line(p.stdout + p.stderr)
    except OSError:
        return "?"


def machine(srv):
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().split("\n"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    ver, settings = srv.settings()
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem} GiB RAM, "
            f"{platform.platform()}, MariaDB {ver} ({settings})")


# ---- the plan ---------------------------------------------------------------------------------

METHOD_KEYS = ("alter", "update", "ptosc", "migrate", "migrate-j2", "before", "before-j2", "extra")
MIGRATE_KINDS = ("migrate", "migrate-j2", "before", "before-j2", "extra")

# The estimate printed at the start: seconds of each step, (fixed, per
# 1,000,000 rows of the rename, per 1,000,000 rows of the type change),
# from the 1M-row run of 2026-11-26 at 200 tx/s on the quiet 2-core VM
# (docs/performance.md) and 20,000-row runs for the fixed part. Under the
# unthrottled load the per-row part is taken UNTHROTTLED_FACTOR times
# slower: in the 100,000-row run of 2026-12-06 (busy VM) the backfills and
# the one UPDATE took 1 to 4 times as long unthrottled as at 200 tx/s.
# "load" is starting and stopping sysbench around a method (the warm-up
# comes on top); "copy" the fresh table. A busy machine takes longer: the
# line after each method rescales what is left by how the steps done so
# far compared with the model.
EST = {"server": (10, 40, 40), "load": (1.5, 0, 0), "copy": (0.5, 4, 4),
       "insert-copy": (0.5, 25, 25), "alter": (0.5, 4, 5), "update": (0.3, 6, 10),
       "ptosc": (2.5, 3, 3), "migrate": (5, 8, 14), "migrate-j2": (5, 7, 11),
       "before": (5, 8, 14), "before-j2": (5, 7, 11), "extra": (5, 8, 14)}
UNTHROTTLED_FACTOR = 2.5


def plan(args):
    """[(rate, task or None, kind)] in the order they run; task None is the
    idle run of that load."""
    steps = []
    for rate in args.rate_list:
        steps.append((rate, None, "idle"))
        for task in TASKS:
            if task["key"] in args.task_keys:
                steps += [(rate, task, k) for k in args.method_list]
    return steps


def estimate(args, steps):
    """(seconds of the server start and the table, [seconds of each
    step]) the plan should take on an otherwise idle 2-core machine."""
    m = args.rows / 1e6

    def cost(name, task_key="rename", slow=1.0):
        fixed, per_rename, per_type = EST[name]
        return fixed + (per_type if task_key == "type" else per_rename) * m * slow

    per_step = []
    for rate, task, kind in steps:
        slow = UNTHROTTLED_FACTOR if rate == 0 else 1.0
        t = cost("copy" if args.copy == "import" else "insert-copy") + cost("load") + args.warmup
        t += args.idle_seconds if kind == "idle" else cost(kind, task["key"], slow)
        per_step.append(t)
    return cost("server"), per_step


def time_left(elapsed, est_start, est_steps, done):
    """Seconds left: the model's estimate of the steps to come, scaled by
    how the steps done so far compared with it (a busy machine is slower)."""
    so_far = est_start + sum(est_steps[:done])
    return sum(est_steps[done:]) * (elapsed / so_far if so_far else 1.0)


def migrate_label(task, kind, args):
    op = ("migrate rename_column: expand, backfill, switch-reads, contract"
          if task["key"] == "rename" else
          "migrate alter_column to k_new: expand, backfill, switch-reads, contract")
    opts = {"migrate": "default backfill", "before": "default backfill",
            "migrate-j2": "backfill --jobs 2", "before-j2": "backfill --jobs 2",
            "extra": f"backfill {args.extra_backfill}"}[kind]
    who = ""
    if args.bin_before:
        who = ", before" if kind.startswith("before") else ", after"
    return f"{op} ({opts}){who}"


def run_step(srv, base, args, rate, task, kind):
    """(label, result) of one method under one load, on a fresh table."""
    tag = f"r{rate}-{task['key']}-{kind}"
    args.copy = fresh_table(srv, args.copy)
    if kind == "alter":
        r = measure(srv, base, args, tag, sql_action(srv, task["alter"]), rate)
        r["note"] = r["note"] or end_state_note(srv, task["end_tool"])
        label = f"blocking `{task['alter']}`"
    elif kind == "update":
        srv.query(task["update_prep"], DB)     # instant on 10.11; not timed
        r = measure(srv, base, args, tag, sql_action(srv, task["update"]), rate)
        label = (f"one `{task['update']}` (the column added beforehand, not timed; "
                 f"the change itself is not done)")
    elif kind == "ptosc":
        r = measure(srv, base, args, tag, ptosc_action(srv, base, args, task), rate)
        if r["ok_run"]:
            r["note"] = end_state_note(srv, task["end_tool"])
        label = "pt-online-schema-change"
    else:
        opts = {"migrate": [], "before": [], "migrate-j2": ["--jobs", "2"],
                "before-j2": ["--jobs", "2"], "extra": args.extra_backfill.split()}[kind]
        binary = args.bin_before if kind.startswith("before") else args.bin
        r = measure(srv, base, args, tag,
                    migrate_action(srv, base, args, task, tag, opts, binary), rate)
        if r["ok_run"]:
            r["note"] = end_state_note(srv, task["end_migrate"])
        label = migrate_label(task, kind, args)
    r["kind"] = kind
    return label, r


def copy_binary(path, base, name):
    """A copy of a migrate binary and its description: a rebuild during the
    run must not mix versions."""
    if not os.access(path, os.X_OK):
        return path, f"{path} (not found: its migrate rows will fail)"
    dst = base / name
    shutil.copy2(path, dst)
    built = time.strftime('%Y-%m-%d %H:%M', time.localtime(os.stat(path).st_mtime))
    return str(dst), f"{version([str(dst), '--version'])} ({path}, built {built}, copied at start)"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000000, help="rows in sbtest1 (default 1000000)")
    ap.add_argument("--bin", default=str(ROOT / "build/migrate"), help="the migrate binary")
    ap.add_argument("--bin-before", default="",
                    help="a second migrate binary (e.g. a build from before a change): its "
                         "migrate rows run too, marked 'before'; the --bin rows are 'after'")
    ap.add_argument("--rate", type=int, default=200,
                    help="sysbench transactions/s (default 200; 0 = unthrottled)")
    ap.add_argument("--rates", default="",
                    help="several loads one after the other, each with its own idle run and "
                         "tables, e.g. 0,200 (unthrottled, then 200 tx/s); overrides --rate")
    ap.add_argument("--threads", type=int, default=4, help="sysbench threads (default 4)")
    ap.add_argument("--idle-seconds", type=float, default=20, help="length of the idle baseline")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of load before each method")
    ap.add_argument("--no-jobs2", action="store_true", help="skip `migrate backfill --jobs 2`")
    ap.add_argument("--with-alter", action="store_true",
                    help="also the blocking ALTER TABLE ... ALGORITHM=COPY rows")
    ap.add_argument("--methods", default="",
                    help="only these methods, comma-separated, of: " + ", ".join(METHOD_KEYS)
                    + " (default: update, ptosc, migrate, migrate-j2, then alter with "
                      "--with-alter, before and before-j2 with --bin-before, extra with "
                      "--extra-backfill; --no-jobs2 drops the -j2 ones)")
    ap.add_argument("--extra-backfill", default="",
                    help="one more migrate row with these backfill options, e.g. "
                         "'--target-batch-ms 200 --jobs 2'")
    ap.add_argument("--tasks", default="rename,type", help="rename, type or both (default)")
    ap.add_argument("--copy", choices=("import", "insert"), default="import",
                    help="how the fresh table is made before every method: import (default) "
                         "copies the base's tablespace file, insert copies the rows with "
                         "INSERT ... SELECT (slower; the earlier runs' way)")
    ap.add_argument("--estimate", action="store_true",
                    help="print the plan and its estimated duration, run nothing")
    ap.add_argument("--sysbench", default="/usr/bin/sysbench")
    ap.add_argument("--pt-osc", default="/usr/bin/pt-online-schema-change")
    args = ap.parse_args()
    try:
        args.rate_list = ([int(x) for x in args.rates.split(",") if x.strip()]
                          if args.rates else [args.rate])
    except ValueError:
        ap.error(f"--rates {args.rates!r}: give rates in tx/s separated by commas, e.g. 0,200")
    if not args.rate_list or any(x < 0 for x in args.rate_list):
        ap.error(f"--rates {args.rates!r}: give rates ≥ 0 (0 = unthrottled), e.g. 0,200")
    args.task_keys = [x for x in args.tasks.split(",") if x]
    bad = [x for x in args.task_keys if x not in ("rename", "type")]
    if bad or not args.task_keys:
        ap.error(f"--tasks {args.tasks!r}: give rename, type or rename,type")
    if args.methods:
        args.method_list = [x for x in args.methods.split(",") if x]
        bad = [x for x in args.method_list if x not in METHOD_KEYS]
        if bad or not args.method_list:
            ap.error(f"--methods {args.methods!r}: give some of {', '.join(METHOD_KEYS)}")
    else:
        args.method_list = (["alter"] if args.with_alter else []) + \
            ["update", "ptosc", "migrate", "migrate-j2"] + \
            (["before", "before-j2"] if args.bin_before else []) + \
            (["extra"] if args.extra_backfill else [])
        if args.no_jobs2:
            args.method_list = [k for k in args.method_list if not k.endswith("-j2")]
    if any(k.startswith("before") for k in args.method_list) and not args.bin_before:
        ap.error("--methods names before or before-j2: give --bin-before PATH too")
    if "extra" in args.method_list and not args.extra_backfill:
        ap.error("--methods names extra: give --extra-backfill 'OPTIONS' too")
    args.bin = str(Path(args.bin).resolve())
    if args.bin_before:
        args.bin_before = str(Path(args.bin_before).resolve())
    return args


def main():
    args = parse_args()
    steps = plan(args)
    est_start, est_steps = estimate(args, steps)
    est = est_start + sum(est_steps)
    print(f"plan: {len(steps)} runs ({', '.join(load_desc(r) for r in args.rate_list)}; "
          f"tasks {', '.join(args.task_keys)}; methods {', '.join(args.method_list)}), "
          f"estimated {est / 60:.1f} min on an otherwise idle 2-core machine", flush=True)
    if args.estimate:
        return
    for prog in (args.sysbench, args.pt_osc, "/usr/bin/time"):
        if not os.access(prog, os.X_OK):
            sys.exit(f"{prog} not found: apt-get install -y sysbench percona-toolkit time")
    base = Path(tempfile.mkdtemp(prefix="migrate-mybench."))
    args.bin, migrate_desc = copy_binary(args.bin, base, "migrate")
    before_desc = ""
    if args.bin_before:
        args.bin_before, before_desc = copy_binary(args.bin_before, base, "migrate-before")
    started = time.monotonic()
    try:
        srv = Server(base)
        print(f"machine: {machine(srv)}")
        print(f"tools: {version([args.sysbench, '--version'])}; "
              f"{version([args.pt_osc, '--version'])}; migrate "
              f"{'after: ' if before_desc else ''}{migrate_desc}"
              f"{'; migrate before: ' + before_desc if before_desc else ''}")
        t = time.monotonic()
        make_base(srv, args)
        print(f"table: sbtest1 of {args.rows:,} rows (sysbench prepare: "
              f"{time.monotonic() - t:.1f} s), copied fresh before every method "
              f"({'its tablespace imported' if args.copy == 'import' else 'INSERT ... SELECT'}, "
              f"then read into the buffer pool and flushed)")
        for rate in args.rate_list:
            print(f"load {load_desc(rate)}: "
                  f"{shown([args.sysbench, 'oltp_read_write', *load_options(srv, args, rate)], srv)}")
        print("each transaction logged by a Lua wrapper; deadlocks, lock wait timeouts and 1020 "
              "retried in the same transaction ('retried'), any other error ends it "
              "('failed tx')", flush=True)
        print(LEGEND, flush=True)

        results = {}
        for i, (rate, task, kind) in enumerate(steps):
            if kind == "idle":
                args.copy = fresh_table(srv, args.copy)
                idle = measure(srv, base, args, f"r{rate}-idle",
                               lambda: (time.sleep(args.idle_seconds), (True, "", []))[1], rate)
                idle["kind"] = "idle"
                results[rate] = {"idle": idle, "tasks": {}, "rows": {}}
            else:
                label, r = run_step(srv, base, args, rate, task, kind)
                results[rate]["tasks"].setdefault(task["key"], {})[kind] = r
                results[rate]["rows"].setdefault(task["key"], []).append((label, r))
            done = time.monotonic() - started
            print(f"[{done:.0f} s] {i + 1}/{len(steps)} done: {load_desc(rate)}, "
                  f"{task['key'] if task else '-'}, {kind}; about "
                  f"{time_left(done, est_start, est_steps, i + 1) / 60:.1f} min left",
                  file=sys.stderr, flush=True)
            last_of_load = i + 1 == len(steps) or steps[i + 1][0] != rate
            if last_of_load:
                print_load(srv, args, results, rate)
        print_targets(results, args)
        print(f"\nwhole run: {time.monotonic() - started:.0f} s (estimated {est:.0f} s)")
    finally:
        # stops the server even if Server() failed half-way
        subprocess.run(["sh", str(ROOT / "tests/mariadb_server.sh"), "stop", str(base / "mdb")])
        shutil.rmtree(base, ignore_errors=True)


def print_load(srv, args, results, rate):
    idle = results[rate]["idle"]
    for task in TASKS:
        rows = results[rate]["rows"].get(task["key"])
        if not rows:
            continue
        print_table(task["title"], [("idle: sysbench alone, no schema change", idle)] + rows,
                    idle, args, rate)
        print_rates(task["title"], results[rate]["tasks"][task["key"]], args, rate)
        print()
        if "ptosc" in results[rate]["tasks"][task["key"]]:
            print("pt-osc command: " + shown(ptosc_command(srv, args, task), srv))
        if task["key"] == "type":
            print("End state: pt-osc and the ALTER keep the column name k (now bigint); "
                  "migrate's alter_column ends with the values in a new column k_new "
                  "(bigint) and k dropped at contract, so sysbench, which reads k, fails "
                  "from contract on.")
        else:
            print("End state: every method ends with c_new char(120) and no c; sysbench "
                  "reads c, so it fails after the ALTER, after pt-osc swaps the tables, "
                  "and after migrate's contract.")
        print(flush=True)


if __name__ == "__main__":
    main()
