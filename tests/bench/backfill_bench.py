#!/usr/bin/python3
"""Backfill benchmark on PostgreSQL (issues 4 and 15): migrate's backfill
against the ceiling (one UPDATE, no trigger) and against pgroll's batching
method, on a throwaway PostgreSQL, with the foreground latency, errors and
retries of a concurrent pgbench load.

Not part of the test suite: it prints markdown tables and changes nothing
outside a temporary directory. Run it from the repository after building:

    /usr/bin/python3 tests/bench/backfill_bench.py [--sizes 1000000,10000000]
        [--bin build/migrate] [--bin-before OLD/build/migrate]
        [--fg-rates 0,400] [--no-throughput] [--no-foreground]

    --sizes 50000 --idle-seconds 3 is a quick check of the script (about two
    minutes on 2 cores); the estimate of the whole run is printed first.

Needs: postgresql (server + pgbench 15 or later: --max-tries), python3-psycopg,
time (GNU time for the peak RSS):
    apt-get install -y postgresql python3-psycopg time
The same change is measured every time: a column `amount` (integer) becomes
`amount_big` (bigint) = amount * 2, on a table t(id bigserial primary key,
amount integer, note text) of N rows. Each method runs on a fresh copy of
the same table (same size, no dead rows).

Two parts:
  rows/s: the ceiling, migrate backfill --jobs 1 / --jobs 2 / default
    settings (with --bin-before: the same with the older binary), pgroll's
    method; nothing else running.
  foreground (the first size only): pgbench, 4 clients, one load per rate of
    --fg-rates (0 = unthrottled), every transaction logged; each transaction
    reads row a, then updates row a and row b (a, b random), so that it can
    deadlock with a batch that waits for one of them. pgbench retries a
    deadlocked transaction (--max-tries) and logs each transaction's retries
    and failures. Methods: idle, migrate backfill default and --jobs 2 (after
    and, with --bin-before, before), pgroll's method, one UPDATE.
"""

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import textwrap
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = textwrap.dedent("""\
    description: amount (integer) becomes amount_big (bigint), doubled
    operations:
      - alter_column:
          table: t
          column: amount
          to: amount_big
          type: bigint
          up: "amount::bigint * 2"
          down: "(amount_big / 2)::integer"
    """)


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Server:
    def __init__(self, base):
        self.dir = base / "pg"
        sh("sh", str(ROOT / "tests/pg_server.sh"), "start", str(self.dir))
        self.url = (self.dir / "url").read_text().strip()
        root = Path((self.dir / "root").read_text().strip()) if (self.dir / "root").exists() else self.dir
        self.socket_dir = str(root)
        self.log = root / "server.log"
        # a realistic durability setting for the measurements
        with self.admin() as c:
            c.execute("ALTER SYSTEM SET fsync = on")
            c.execute("ALTER SYSTEM SET synchronous_commit = on")
            c.execute("ALTER SYSTEM SET full_page_writes = on")
            c.execute("ALTER SYSTEM SET max_wal_size = '4GB'")
            c.execute("ALTER SYSTEM SET min_wal_size = '2GB'")
            c.execute("SELECT pg_reload_conf()")

    def log_size(self):
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def admin(self, db="postgres"):
        return psycopg.connect(self.url.rsplit("/", 1)[0] + "/" + db, autocommit=True)

    def stop(self):
        subprocess.run(["sh", str(ROOT / "tests/pg_server.sh"), "stop", str(self.dir)])


def make_base(srv, n):
    """Two template databases holding t with N rows, without (tmpl0) and
    with (tmpl1) the new column, vacuumed and analysed."""
    with srv.admin() as c:
        for db in ("run", "tmpl0", "tmpl1"):
            c.execute(f"DROP DATABASE IF EXISTS {db}")
        c.execute("CREATE DATABASE tmpl0")
    with srv.admin("tmpl0") as c:
        c.execute("CREATE TABLE t (id bigserial PRIMARY KEY, amount integer NOT NULL, note text)")
        c.execute("INSERT INTO t SELECT g, (g %% 100000)::int, md5(g::text) "
                  "FROM generate_series(1, %s) g", (n,))
        c.execute("SELECT setval('t_id_seq', (SELECT max(id) FROM t))")
        c.execute("VACUUM ANALYZE t")
    with srv.admin() as c:
        c.execute("CREATE DATABASE tmpl1 TEMPLATE tmpl0 STRATEGY FILE_COPY")
    with srv.admin("tmpl1") as c:
        c.execute("ALTER TABLE t ADD COLUMN amount_big bigint")
        c.execute("VACUUM ANALYZE t")


def fresh_table(srv, with_new_column):
    """Database `run` holding t, a file copy of a template: same rows and
    pages, no dead tuples, analysed, nothing left from an earlier method,
    its statistics (pg_stat_database) new; checkpointed."""
    with srv.admin() as c:
        c.execute("DROP DATABASE IF EXISTS run")
        c.execute(f"CREATE DATABASE run TEMPLATE tmpl{int(with_new_column)} STRATEGY FILE_COPY")
        c.execute("CHECKPOINT")


def timed_sql(srv, sql):
    with srv.admin("run") as c:
        t0 = time.monotonic()
        c.execute(sql)
        return time.monotonic() - t0


def run_single_update(srv, n):
    fresh_table(srv, True)
    return n / timed_sql(srv, "UPDATE t SET amount_big = amount::bigint * 2")


PGROLL_SETUP = """
ALTER TABLE t ADD COLUMN needs_backfill boolean DEFAULT true;
CREATE FUNCTION pgroll_like_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.amount_big := NEW.amount::bigint * 2;
  NEW.needs_backfill := false;
  RETURN NEW;
END $$;
CREATE TRIGGER pgroll_like BEFORE INSERT OR UPDATE ON t
  FOR EACH ROW EXECUTE FUNCTION pgroll_like_sync();
CREATE PROCEDURE pgroll_like_backfill() LANGUAGE plpgsql AS $$
DECLARE last bigint := 0; got bigint;
BEGIN
  LOOP
    WITH batch AS (SELECT id FROM t WHERE needs_backfill AND id > last
                   ORDER BY id LIMIT 1000 FOR NO KEY UPDATE),
         u AS (UPDATE t SET id = t.id FROM batch WHERE t.id = batch.id RETURNING t.id)
    SELECT max(id) INTO got FROM u;
    EXIT WHEN got IS NULL;
    last := got;
    COMMIT;
  END LOOP;
END $$;
"""


def run_pgroll_method(srv, n):
    """pgroll's batching re-implemented in SQL and run server-side (which
    favours it: no round trips): batches of 1000 keys FOR NO KEY UPDATE, a
    no-op UPDATE firing a PL/pgSQL trigger, a needs_backfill flag."""
    fresh_table(srv, True)
    with srv.admin("run") as c:
        c.execute(PGROLL_SETUP)
    return n / timed_sql(srv, "CALL pgroll_like_backfill()")


class Project:
    def __init__(self, srv, base, label):
        self.dir = base / label
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "migrations").mkdir(parents=True)
        (self.dir / "migrations/0001_widen_amount.yaml").write_text(MIGRATION)
        self.env = dict(os.environ, MIGRATE_DATABASE_URL=srv.url.rsplit("/", 1)[0] + "/run")

    def try_run(self, binary, *args, quiet=True):
        """(exit status, seconds, peak RSS KiB or None, stderr) of one migrate process."""
        # GNU time reports the peak RSS of migrate itself (a rusage taken
        # from Python would include the interpreter's pages before exec)
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "maxrss %M", binary, *args, *(["-q"] if quiet else [])],
                           cwd=self.dir, env=self.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        took = time.monotonic() - t0
        lines = p.stderr.strip().split("\n")
        rss = int(lines[-1].split()[-1]) if lines and lines[-1].startswith("maxrss") else None
        return p.returncode, took, rss, "\n".join(lines[:-1])

    def run(self, binary, *args):
        """(seconds, peak RSS KiB) of one migrate process that must succeed."""
        rc, took, rss, err = self.try_run(binary, *args)
        if rc != 0:
            sys.exit(f"migrate {' '.join(args)} failed ({rc}): {err}")
        return took, rss


def run_migrate(srv, base, binary, n, label, *opts):
    """(rows/s, peak RSS KiB, seconds, statements cancelled by lock_timeout)
    of one backfill with nothing else running."""
    fresh_table(srv, False)
    proj = Project(srv, base, label)
    proj.run(binary, "expand")
    log_from = srv.log_size()
    took, rss = proj.run(binary, "backfill", *opts)
    timeouts = lock_timeouts(srv, log_from)
    _, rss_v = proj.run(binary, "switch-reads")   # verifies every row
    return n / took, max(rss, rss_v), took, timeouts


# ---- foreground load ------------------------------------------------------------------------

CLIENTS = 4
STALL_MS = 100          # a transaction slower than this counts as stalled

# Row a is read and written, then row b: two clients, or a client and a
# batch that locks rows in key order and waits, can each hold one row the
# other wants. PostgreSQL 15's pgbench retries the deadlock victim
# (--max-tries) and logs the transaction's retries. A batch deadlocks with
# the transaction only when, holding b, it reaches a while the transaction
# holds a and waits for b: b is drawn within --fg-pair-distance keys of a
# (related rows, written about the same time, have near keys); with b
# anywhere in the table that almost never happens.
PGBENCH_SCRIPT = """\\set a random(1, {n})
\\set b {b}
BEGIN;
SELECT amount FROM t WHERE id = :a;
UPDATE t SET amount = amount + 1 WHERE id = :a;
UPDATE t SET amount = amount - 1 WHERE id = :b;
END;
"""


def pgbench_script(n, distance):
    b = (f"random(greatest(1, :a - {distance}), least({n}, :a + {distance}))"
         if distance else f"random(1, {n})")
    return PGBENCH_SCRIPT.format(n=n, b=b)


class Load:
    """What one foreground load is: rate 0 = unthrottled."""

    def __init__(self, rate, args):
        self.rate = rate
        self.max_tries = args.max_tries
        self.pair_distance = args.fg_pair_distance
        self.warmup = args.warmup
        self.tail = args.tail
        self.idle_seconds = args.idle_seconds

    def title(self):
        return "unthrottled" if self.rate == 0 else f"{self.rate} tx/s"

    def shape(self):
        where = f"within {self.pair_distance:,} keys of a" if self.pair_distance else "anywhere"
        return f"pgbench {CLIENTS} clients, {self.title()}, row b {where}"


class Pgbench:
    """pgbench against t for as long as it runs, logging every transaction."""

    def __init__(self, srv, base, n, load, label):
        self.dir = base / f"pgbench-{label}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        script = self.dir / "rw.sql"
        script.write_text(pgbench_script(n, load.pair_distance))
        url = srv.url.rsplit("/", 1)[0] + "/run"
        cmd = ["pgbench", "-n", "-c", str(CLIENTS), "-j", "2", "-T", "86400",
               "--max-tries", str(load.max_tries), "--failures-detailed",
               "-f", str(script), "-l", "--log-prefix", str(self.dir / "log"), url]
        if load.rate:
            cmd[1:1] = ["-R", str(load.rate)]
        self.err = open(self.dir / "stderr", "w")
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=self.err, text=True)

    def stop(self):
        # SIGTERM loses what pgbench had not written of its log yet (a few
        # kB per thread): the caller waits --tail seconds after the window
        self.ended_early = self.proc.poll()
        self.proc.terminate()
        self.proc.wait()
        self.err.close()

    def window(self, t_from, t_to, fail_slack):
        """What the transactions that started within [t_from, t_to] (epoch
        seconds) saw. pgbench logs the end time, so start = end - latency; a
        failed transaction has no latency and counts when it ended within
        [t_from, t_to + fail_slack]."""
        lats, failed, retried, retries = [], 0, 0, 0
        for f in self.dir.glob("log*"):
            for line in f.read_text().split("\n"):
                parts = line.split()
                if len(parts) < 7:
                    continue
                end = int(parts[4]) + int(parts[5]) / 1e6
                if not parts[2].isdigit():     # failed, deadlock, serialization
                    failed += t_from <= end <= t_to + fail_slack
                    continue
                lat_us = int(parts[2])
                if t_from <= end - lat_us / 1e6 <= t_to:
                    lats.append(lat_us / 1000.0)
                    tries = int(parts[-1])
                    retried += tries > 0
                    retries += tries
        aborted = [ln for ln in (self.dir / "stderr").read_text().split("\n") if "aborted in command" in ln]
        early = ([f"pgbench ended before the method did (exit {self.ended_early}): the load "
                  f"was lighter than it should have been"] if self.ended_early is not None else [])
        return dict(lats=lats, failed=failed, retried=retried, retries=retries,
                    aborted=aborted, load_notes=early)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def server_deadlocks(srv):
    """Deadlocks PostgreSQL detected in database run (made fresh for each
    method), whoever was the victim; read after every session has ended."""
    time.sleep(0.5)     # a backend reports its statistics when it exits
    with srv.admin() as c:
        row = c.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = 'run'").fetchone()
    return row[0] if row else 0


class LockWaits(threading.Thread):
    """Samples, every SAMPLE_S, the pgbench sessions waiting for a lock and
    keeps the longest wait (pg_locks.waitstart) of those whose chain of
    blockers (pg_blocking_pids, followed through other waiting pgbench
    sessions) reaches a session that is not pgbench's, the method's: what
    the method itself made the application wait, apart from CPU and WAL."""
    SAMPLE_S = 0.02
    SQL = """SELECT a.pid, a.application_name = 'pgbench', pg_blocking_pids(a.pid),
                    extract(epoch FROM clock_timestamp() - l.waitstart) * 1000
             FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
             WHERE a.datname = 'run' AND a.pid <> pg_backend_pid()"""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.conn = srv.admin("run")
        self.done = threading.Event()
        self.longest_ms = 0.0

    def run(self):
        while not self.done.wait(self.SAMPLE_S):
            sessions = {}
            for pid, is_pgbench, blockers, ms in self.conn.execute(self.SQL).fetchall():
                old = sessions.get(pid, (is_pgbench, [], 0.0))
                sessions[pid] = (is_pgbench, old[1] + list(blockers or []),
                                 max(old[2], float(ms or 0)))
            for pid, (is_pgbench, blockers, ms) in sessions.items():
                if is_pgbench and ms > self.longest_ms and self.blocked_by_method(sessions, blockers):
                    self.longest_ms = ms

    @staticmethod
    def blocked_by_method(sessions, blockers):
        seen, todo = set(), list(blockers)
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            is_pgbench, further, _ = sessions.get(pid, (False, [], 0.0))
            if not is_pgbench:
                return True
            todo += further
        return False

    def stop(self):
        self.done.set()
        self.join()
        self.conn.close()


# a statement of the pgbench script, as the server log shows it
PGBENCH_STATEMENT = re.compile(r"^(SELECT amount FROM t|UPDATE t SET amount = amount [+-] 1) WHERE id = \d+;?$")


def log_since(srv, offset):
    try:
        with open(srv.log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def lock_timeouts(srv, offset):
    """Statements the server cancelled for lock_timeout since offset: only
    migrate sets one (pgbench and the SQL methods do not)."""
    text = log_since(srv, offset)
    return None if text is None else text.count("canceling statement due to lock timeout")


def deadlocks_with_method(srv, offset):
    """Deadlocks the server logged since offset whose cycle has a statement
    that is not pgbench's, that is the method's (the DETAIL of a deadlock
    error names each process and its statement)."""
    text = log_since(srv, offset)
    if text is None:
        return None
    found = 0
    for event in text.split("ERROR:  deadlock detected")[1:]:
        detail = event.split("STATEMENT:", 1)[0]
        stmts = re.findall(r"Process \d+: (.*)", detail)
        found += any(not PGBENCH_STATEMENT.match(x.strip()) for x in stmts)
    return found


def measure(srv, base, n, load, label, method):
    """Run method.act() under the load; the figures of the transactions that
    started while it ran."""
    started = time.monotonic()
    method.setup()
    log_from = srv.log_size()
    pb = Pgbench(srv, base, n, load, label)
    try:
        time.sleep(load.warmup)
        waits = LockWaits(srv)
        waits.start()
        t0 = time.time()
        try:
            notes = list(method.act() or [])
        finally:
            t1 = time.time()
            waits.stop()
        time.sleep(load.tail)   # transactions started in the window may end after it
    finally:
        pb.stop()
    r = pb.window(t0, t1, load.tail / 2)
    notes += method.check() or []
    notes += r.pop("load_notes")
    r["step_s"] = time.monotonic() - started
    timeouts = lock_timeouts(srv, log_from)
    if timeouts:
        notes.append(f"{timeouts} of its statements were cancelled by lock_timeout (server log)")
    r.update(label=method.label, wall=t1 - t0, deadlocks=server_deadlocks(srv), notes=notes,
             method_deadlocks=deadlocks_with_method(srv, log_from),
             lock_wait=waits.longest_ms)
    lats = r["lats"]
    r.update(tx=len(lats), p50=pct(lats, 50), p99=pct(lats, 99),
             worst=max(lats) if lats else float("nan"),
             stalled=sum(1 for v in lats if v > STALL_MS))
    return r


class Idle:
    """The expanded table (its trigger fires for the load's writes, as
    during the backfill) with nothing else running."""

    def __init__(self, srv, base, binary, load):
        self.srv, self.base, self.binary, self.load = srv, base, binary, load
        self.label = "idle (expanded table, no migration running)"

    def setup(self):
        fresh_table(self.srv, False)
        Project(self.srv, self.base, "fg-idle").run(self.binary, "expand")

    def act(self):
        time.sleep(self.load.idle_seconds)

    def check(self):
        return []


class MigrateBackfill:
    """migrate expand before the load; backfill under it (run again, as an
    operator would, when it exits 3 and says rerunning resumes); switch-reads
    (verifies every row) after it."""
    RERUNS = 3

    def __init__(self, srv, base, binary, label, opts):
        self.srv, self.base, self.binary, self.opts = srv, base, binary, opts
        self.label = label
        self.proj = None

    def setup(self):
        fresh_table(self.srv, False)
        self.proj = Project(self.srv, self.base, "fg-migrate")
        self.proj.run(self.binary, "expand")

    def act(self):
        notes = []
        for attempt in range(1 + self.RERUNS):
            rc, _, _, err = self.proj.try_run(self.binary, "backfill", *self.opts, quiet=False)
            notes += self.meetings(err)
            if rc == 0:
                return notes
            notes.append(f"backfill exited {rc}: {last_error(err)}")
            if rc != 3:
                break
        notes.append("backfill did not finish")
        return notes

    @staticmethod
    def meetings(err):
        """What migrate's progress says of rows the application held."""
        held = sum(int(m) for m in re.findall(r"(\d+) row\(s\) were held by other transactions", err))
        waits = len(re.findall(r"are locked by another transaction: waiting", err))
        notes = []
        if held:
            notes.append(f"the backfill found {held} row(s) held by the application and passed "
                         f"over them again")
        if waits:
            notes.append(f"the backfill waited {waits} time(s) for rows the application held "
                         f"(lock_timeout, then a retry)")
        return notes

    def check(self):
        rc, _, _, err = self.proj.try_run(self.binary, "switch-reads")
        return [] if rc == 0 else [f"switch-reads (verifies every row) exited {rc}: {first_line(err)}"]


class SqlMethod:
    """One SQL statement under the load, run again when PostgreSQL picks it
    as a deadlock victim (each such try is noted)."""
    TRIES = 5

    def __init__(self, srv, label, setup_sql, sql, check_sql):
        self.srv, self.label = srv, label
        self.setup_sql, self.sql, self.check_sql = setup_sql, sql, check_sql

    def setup(self):
        fresh_table(self.srv, True)
        if self.setup_sql:
            with self.srv.admin("run") as c:
                c.execute(self.setup_sql)

    def act(self):
        notes = []
        with self.srv.admin("run") as c:
            for attempt in range(self.TRIES):
                try:
                    c.execute(self.sql)
                    return notes
                except psycopg.errors.DeadlockDetected:
                    notes.append("deadlock victim: tried again")
                except psycopg.Error as e:
                    notes.append(f"failed: {first_line(str(e))}")
                    return notes
        notes.append(f"gave up after {self.TRIES} deadlocks")
        return notes

    def check(self):
        with self.srv.admin("run") as c:
            left = c.execute(self.check_sql).fetchone()[0]
        return [f"{left} rows left without amount_big"] if left else []


def last_error(text):
    lines = [ln.strip() for ln in (text or "").split("\n") if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["(no output)"])[-1]


def first_line(text):
    lines = [ln.strip() for ln in (text or "").split("\n") if ln.strip()]
    return lines[0] if lines else "(no output)"


FG_METHODS = ("idle", "default", "jobs2", "pgroll", "update")


def load_methods(srv, base, args, load):
    """The methods of --fg-methods, in the order of FG_METHODS (idle first:
    the others are compared with it)."""
    after, before = args.bin, args.bin_before
    methods = [(Idle(srv, base, after, load), "idle")]
    for tag, binary in (("after", after), ("before", before)):
        if not binary:
            continue
        suffix = f" ({tag})" if before else ""
        methods.append((MigrateBackfill(srv, base, binary,
                                        f"migrate backfill, default settings{suffix}", []), "default"))
        methods.append((MigrateBackfill(srv, base, binary,
                                        f"migrate backfill --jobs 2{suffix}", ["--jobs", "2"]), "jobs2"))
    for opts in args.fg_extra_backfill:
        suffix = " (after)" if before else ""
        methods.append((MigrateBackfill(srv, base, after, f"migrate backfill {opts}{suffix}",
                                        shlex.split(opts)), "extra"))
    left = "SELECT count(*) FROM t WHERE amount_big IS NULL"
    methods.append((SqlMethod(srv, "pgroll's method re-implemented in SQL", PGROLL_SETUP,
                              "CALL pgroll_like_backfill()", left), "pgroll"))
    methods.append((SqlMethod(srv, "one UPDATE of the whole column (reference)", None,
                              "UPDATE t SET amount_big = amount::bigint * 2", left), "update"))
    return [m for m, key in methods if key in args.fg_methods or key == "extra"]


def foreground(srv, base, args, n, load):
    rows = []
    for i, method in enumerate(load_methods(srv, base, args, load)):
        r = measure(srv, base, n, load, f"{load.rate}-{i}", method)
        rows.append(r)
        print(f"  {load.title()}: {r['label']}: {r['wall']:.1f} s ({r['step_s']:.1f} s with "
              f"its setup and check), p99 {r['p99']:.2f} ms",
              file=sys.stderr, flush=True)
    return rows


# ---- output ---------------------------------------------------------------------------------

FG_LEGEND = """\
wall = the method's run (idle: the window measured). tx, p50, p99, worst =
the pgbench transactions that started during it and committed (latency
includes lock waits and, at a fixed rate, the schedule lag). failed = ended
by an error after every try (--max-tries), within the run or half the tail
after it. retried = committed transactions that deadlocked first and were
retried (total retries in brackets). > {stall} ms = committed transactions
slower than that. server deadlocks = pg_stat_database.deadlocks for the
whole load (warm-up and tail too), whoever was the victim; in brackets, those
whose cycle had one of the method's statements (from the server log). longest lock
wait on the method = the longest wait of a pgbench session for a lock held
by the method's sessions, sampled every {sample:.0f} ms (pg_locks.waitstart):
the part of a stall the method's locks explain."""


def dash(v):
    return "-" if v is None else v


def ratio(v, idle):
    return f"{v / idle:.2f}x" if idle and idle == idle and v == v else "-"


def print_foreground(n, load, rows, legend=True):
    idle = rows[0]["p99"]
    print(f"| method ({n:,} rows, {load.shape()}) | wall s | tx | tx/s "
          f"| p50 ms | p99 ms | worst ms | failed | retried | > {STALL_MS} ms | p99 / idle "
          f"| server deadlocks (with the method) | longest lock wait on the method ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for r in rows:
        failed = r["failed"] + len(r["aborted"])
        retried = f"{r['retried']} ({r['retries']})" if r["retries"] else "0"
        print(f"| {r['label']} | {r['wall']:.1f} | {r['tx']} | {r['tx'] / r['wall']:.0f} "
              f"| {r['p50']:.2f} | {r['p99']:.2f} | {r['worst']:.1f} | {failed} | {retried} "
              f"| {r['stalled']} | {ratio(r['p99'], idle)} | {r['deadlocks']} ({dash(r['method_deadlocks'])}) "
              f"| {r['lock_wait']:.0f} |")
        notes += [f"{r['label']}: {x}" for x in r["notes"]]
        if r["aborted"]:
            notes.append(f"{r['label']}: {len(r['aborted'])} pgbench client(s) aborted "
                         f"(counted as failed): {r['aborted'][0].strip()}")
    print()
    for x in notes:
        print(f"- {x}")
    if legend:
        print(FG_LEGEND.format(stall=STALL_MS, sample=LockWaits.SAMPLE_S * 1000))
    print(flush=True)


def print_throughput(n, r):
    single = r["single"]
    before = "b_jobs1" in r
    rows = [
        ("one UPDATE, no trigger (the ceiling)", "single", None),
        ("migrate backfill --jobs 1, unthrottled (--target-batch-ms 500)", "jobs1", "rss1"),
        ("migrate backfill --jobs 2, unthrottled (--target-batch-ms 500)", "jobs2", "rss2"),
        ("migrate backfill, default settings", "default", "rssd"),
        ("pgroll's method re-implemented in SQL, server-side", "pgroll", None),
    ]
    head = f"| method ({n:,} rows) | rows/s | vs ceiling | peak RSS |"
    rule = "|---|---:|---:|---:|"
    if before:
        head = (f"| method ({n:,} rows) | rows/s after | vs ceiling | rows/s before | vs ceiling "
                f"| peak RSS after |")
        rule = "|---|---:|---:|---:|---:|---:|"
    print(f"\n{head}\n{rule}")
    for label, key, rss_key in rows:
        rate, rss = r[key], r.get(rss_key)
        rss_txt = "%.1f MiB" % (rss / 1024) if rss else "-"
        cells = f"{rate:,.0f} | {rate / single:.2f}x"
        if before:
            b = r.get("b_" + key) if rss_key else None
            cells += f" | {b:,.0f} | {b / single:.2f}x" if b else " | - | -"
        print(f"| {label} | {cells} | {rss_txt} |")
    print(f"\nmigrate --jobs 1 / pgroll method: {r['jobs1'] / r['pgroll']:.2f}x; "
          f"default / pgroll method: {r['default'] / r['pgroll']:.2f}x\n", flush=True)
    names = {"jobs1": "--jobs 1", "jobs2": "--jobs 2", "default": "default settings"}
    for prefix, key, timeouts in r.get("timeouts", []):
        if timeouts:
            print(f"- migrate backfill {names[key]}{' (before)' if prefix else ''}: {timeouts} of "
                  f"its statements were cancelled by lock_timeout (server log), with nothing "
                  f"else running")
    print(flush=True)


def met(ok):
    return "met" if ok else "**missed**"


def print_targets(n, throughput, loads):
    """Issue 15's targets, computed from the tables above."""
    unthrottled = next((rows for load, rows in loads if load.rate == 0), [])
    mig = next((r for r in unthrottled if r["label"].startswith("migrate backfill, default")), None)
    if not mig and not throughput:
        return
    print(f"| target (issue 15, {n:,} rows) | measured | |")
    print("|---|---|---|")
    if mig:
        idle = unthrottled[0]
        by_label = {r["label"]: r for r in unthrottled}
        old = by_label.get("migrate backfill, default settings (before)")
        was = lambda f: f"; before: {f(old)}" if old else ""   # noqa: E731

        def errors(r):
            return r["failed"] + len(r["aborted"])
        print(f"| no application error caused by migrate (unthrottled load, default settings) "
              f"| {errors(mig)} failed (idle: {errors(idle)}){was(errors)} "
              f"| {met(errors(mig) == 0)} |")
        def caused(r):
            return r["deadlocks"] if r["method_deadlocks"] is None else r["method_deadlocks"]
        print(f"| no retried deadlock caused by migrate | {caused(mig)} deadlocks with migrate "
              f"({mig['retried']} transactions retried, {mig['deadlocks']} deadlocks in all; idle: "
              f"{idle['retried']}, {idle['deadlocks']}){was(lambda r: '%d deadlocks with migrate' % caused(r))} "
              f"| {met(caused(mig) == 0)} |")
        print(f"| foreground p99 ≤ 1.5x idle | {mig['p99']:.2f} against {idle['p99']:.2f} ms: "
              f"{ratio(mig['p99'], idle['p99'])}{was(lambda r: ratio(r['p99'], idle['p99']))} "
              f"| {met(mig['p99'] <= 1.5 * idle['p99'])} |")
        print(f"| no transaction stalled over {STALL_MS} ms by migrate | {mig['stalled']} over "
              f"{STALL_MS} ms, worst {mig['worst']:.1f} ms, longest wait for its locks "
              f"{mig['lock_wait']:.0f} ms (idle: {idle['stalled']}, worst {idle['worst']:.1f} ms)"
              f"{was(lambda r: '%d, worst %.1f ms, lock wait %.0f ms' % (r['stalled'], r['worst'], r['lock_wait']))} "
              f"| {met(mig['stalled'] == 0)} |")
    if throughput:
        r = throughput
        old = f"; before: {r['b_jobs1'] / r['single']:.2f}x" if "b_jobs1" in r else ""
        print(f"| backfill rows/s unthrottled (--jobs 1) ≥ 0.8x the single UPDATE "
              f"| {r['jobs1'] / r['single']:.2f}x{old} | {met(r['jobs1'] >= 0.8 * r['single'])} |")
    print(flush=True)


def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().split("\n"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    with psycopg.connect(SRV.url) as c:
        ver = c.execute("SHOW server_version").fetchone()[0]
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem} GiB RAM, "
            f"{platform.platform()}, PostgreSQL {ver} (fsync on, shared_buffers 128MB), "
            f"load average {os.getloadavg()[0]:.2f} at the start")


# Seconds per million rows of each step on the 2-core development machine,
# quiet (from the runs in docs/performance.md), for the estimate printed
# first: a file copy of the table, a migrate expand + switch-reads, each
# method with nothing else running and under each load (retries included).
COPY_S_PER_M = 4.0
VERIFY_S_PER_M = 2.0
ALONE_S_PER_M = {"single": 4, "jobs1": 5, "jobs2": 3.5, "default": 5, "pgroll": 8}
LOADED_S_PER_M = {"default": 15, "jobs2": 10, "pgroll": 20, "update": 20}   # unthrottled
RATED_S_PER_M = {"default": 8, "jobs2": 6, "pgroll": 10, "update": 10}     # at a fixed rate
STEP_S = 2.0            # each step's own overhead: processes, connections, checkpoint


def estimate(args, sizes, loads):
    """Seconds the whole run should take (rough: see the constants)."""
    bins = 2 if args.bin_before else 1
    total = 10.0                                   # server start and stop
    for i, n in enumerate(sizes):
        m = n / 1e6
        total += 15 * m                            # the template databases
        if not args.no_throughput:
            steps = [ALONE_S_PER_M["single"], ALONE_S_PER_M["pgroll"]]
            steps += bins * [ALONE_S_PER_M[k] + VERIFY_S_PER_M for k in ("jobs1", "jobs2", "default")]
            total += sum(STEP_S + (COPY_S_PER_M + s) * m for s in steps)
        if i > 0 or args.no_foreground:
            continue
        for load in loads:
            act = LOADED_S_PER_M if load.rate == 0 else RATED_S_PER_M
            steps = [act[k] for k in ("pgroll", "update") if k in args.fg_methods]
            steps += bins * [act[k] + VERIFY_S_PER_M for k in ("default", "jobs2")
                             if k in args.fg_methods]
            steps += len(args.fg_extra_backfill) * [act["default"] + VERIFY_S_PER_M]
            around = STEP_S + load.warmup + load.tail + 0.5
            total += around + load.idle_seconds + (COPY_S_PER_M + VERIFY_S_PER_M) * m
            total += sum(around + (COPY_S_PER_M + s) * m for s in steps)
    return total


def throughput(srv, base, args, n):
    r = {}
    r["single"] = run_single_update(srv, n)
    big = ["--target-batch-ms", "500"]
    for prefix, binary in (("", args.bin), ("b_", args.bin_before)):
        if not binary:
            continue
        tag = prefix or "a_"
        for key, rss_key, opts in (("jobs1", "rss1", ["--jobs", "1", *big]),
                                   ("jobs2", "rss2", ["--jobs", "2", *big]),
                                   ("default", "rssd", [])):
            rate, rss, _, timeouts = run_migrate(srv, base, binary, n, tag + key, *opts)
            r[prefix + key], r[prefix + rss_key] = rate, rss
            r.setdefault("timeouts", []).append((prefix, key, timeouts))
    r["pgroll"] = run_pgroll_method(srv, n)
    return r


def main():
    global SRV
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000", help="rows, comma-separated")
    ap.add_argument("--bin", default=str(ROOT / "build/migrate"), help="the migrate binary measured")
    ap.add_argument("--bin-before", help="an older migrate binary, measured beside --bin (before/after)")
    ap.add_argument("--rate", type=int, default=400,
                    help="the fixed pgbench rate (tx/s) when --fg-rates is not given")
    ap.add_argument("--fg-rates", help="pgbench rates, comma-separated, 0 = unthrottled "
                    "(default: 0,RATE): one foreground table each")
    ap.add_argument("--max-tries", type=int, default=10,
                    help="pgbench --max-tries: tries of a transaction that deadlocks (default 10)")
    ap.add_argument("--fg-pair-distance", type=int, default=1000,
                    help="the second row a transaction updates is within this many keys of the "
                    "first (default 1000; 0 = anywhere in the table)")
    ap.add_argument("--idle-seconds", type=float, default=10, help="length of the idle window")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of load before each method")
    ap.add_argument("--tail", type=float, default=2, help="seconds of load after each method")
    ap.add_argument("--fg-methods", default=",".join(FG_METHODS),
                    help="methods measured under the loads, comma-separated (default: all: "
                    + ",".join(FG_METHODS) + "; idle is always measured)")
    ap.add_argument("--fg-extra-backfill", action="append", default=[], metavar="OPTS",
                    help="one more row under each load: migrate backfill OPTS (--bin), e.g. "
                    "'--max-lock-waits 1'; may be given again")
    ap.add_argument("--no-throughput", action="store_true", help="skip the rows/s tables")
    ap.add_argument("--no-foreground", action="store_true", help="skip the foreground tables")
    args = ap.parse_args()
    args.bin = str(Path(args.bin).resolve())
    if args.bin_before:
        args.bin_before = str(Path(args.bin_before).resolve())
    for b in filter(None, (args.bin, args.bin_before)):
        if not os.access(b, os.X_OK):
            sys.exit(f"backfill_bench: {b} is not an executable migrate binary: build it first")
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
        rates = [int(x) for x in (args.fg_rates or f"0,{args.rate}").split(",")]
    except ValueError:
        sys.exit("backfill_bench: --sizes and --fg-rates take comma-separated integers")
    args.fg_methods = set(args.fg_methods.split(",")) | {"idle"}
    unknown = args.fg_methods - set(FG_METHODS)
    if unknown:
        sys.exit(f"backfill_bench: --fg-methods: unknown {', '.join(sorted(unknown))} "
                 f"(known: {', '.join(FG_METHODS)})")
    if min(sizes) < 1 or min(rates) < 0 or args.max_tries < 1 or args.fg_pair_distance < 0:
        sys.exit("backfill_bench: --sizes must be positive, --fg-rates and --fg-pair-distance "
                 "0 or more, --max-tries 1 or more")
    loads = [Load(rate, args) for rate in rates]
    est = estimate(args, sizes, loads)
    print(f"estimated duration: {est / 60:.0f} min ({est:.0f} s) on a quiet 2-core machine",
          file=sys.stderr, flush=True)
    shown_bin, shown_before = args.bin, args.bin_before
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="migrate-bench."))
    # copies: a rebuild during the run must not change what is measured
    for attr, name in (("bin", "migrate-after"), ("bin_before", "migrate-before")):
        if getattr(args, attr):
            shutil.copy2(getattr(args, attr), base / name)
            setattr(args, attr, str(base / name))
    SRV = Server(base)
    try:
        print(f"machine: {machine()}\n")
        print(f"migrate: {shown_bin}" + (f"; before: {shown_before}" if args.bin_before else "") + "\n")
        results, fg = {}, []
        for n in sizes:
            print(f"== {n:,} rows ==", flush=True)
            make_base(SRV, n)
            if not args.no_throughput:
                results[n] = throughput(SRV, base, args, n)
                print_throughput(n, results[n])
            if n == sizes[0] and not args.no_foreground:
                for load in loads:
                    rows = foreground(SRV, base, args, n, load)
                    fg.append((load, rows))
                    print_foreground(n, load, rows, legend=len(fg) == 1)
        if len(sizes) > 1 and results:
            a, b = results[sizes[0]], results[sizes[-1]]
            print(f"scaling {sizes[0]:,} -> {sizes[-1]:,} rows: migrate --jobs 1 "
                  f"{b['jobs1'] / a['jobs1']:.2f}x, default {b['default'] / a['default']:.2f}x, "
                  f"--jobs 2 {b['jobs2'] / a['jobs2']:.2f}x the rows/s\n")
        print_targets(sizes[0], results.get(sizes[0]), fg)
    finally:
        SRV.stop()
        shutil.rmtree(base, ignore_errors=True)
    took = time.monotonic() - started
    print(f"the run took {took / 60:.1f} min ({took:.0f} s; estimated {est:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
