#!/usr/bin/python3
"""Backfill benchmark (issue 4): migrate's backfill against the ceiling (one
UPDATE, no trigger) and against pgroll's batching method, on a throwaway
PostgreSQL, with the foreground latency of a concurrent pgbench workload.

Not part of the test suite: it prints tables and changes nothing outside a
temporary directory. Run it from the repository after building:

    /usr/bin/python3 tests/bench/backfill_bench.py [--sizes 1000000,10000000]
                                                   [--bin build/migrate]

Needs: postgresql (server + pgbench), python3-psycopg, time (GNU time for the
peak RSS): apt-get install -y postgresql python3-psycopg time. The same change is measured every time: a column `amount`
(integer) becomes `amount_big` (bigint) = amount * 2, on a table
t(id bigserial primary key, amount integer, note text) of N rows. Each
method runs on a fresh copy of the same table (same size, no dead rows).
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
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
        # a realistic durability setting for the measurements
        with self.admin() as c:
            c.execute("ALTER SYSTEM SET fsync = on")
            c.execute("ALTER SYSTEM SET synchronous_commit = on")
            c.execute("ALTER SYSTEM SET full_page_writes = on")
            c.execute("ALTER SYSTEM SET max_wal_size = '4GB'")
            c.execute("ALTER SYSTEM SET min_wal_size = '2GB'")
            c.execute("SELECT pg_reload_conf()")

    def admin(self, db="postgres"):
        return psycopg.connect(self.url.rsplit("/", 1)[0] + "/" + db, autocommit=True)

    def stop(self):
        subprocess.run(["sh", str(ROOT / "tests/pg_server.sh"), "stop", str(self.dir)])


def make_base(srv, n):
    with srv.admin() as c:
        c.execute("DROP DATABASE IF EXISTS bench")
        c.execute("CREATE DATABASE bench")
    with srv.admin("bench") as c:
        c.execute("CREATE TABLE base (id bigint, amount integer NOT NULL, note text)")
        c.execute("INSERT INTO base SELECT g, (g %% 100000)::int, md5(g::text) "
                  "FROM generate_series(1, %s) g", (n,))


def fresh_table(srv, with_new_column):
    """Database `run` holding t, a fresh copy of base: same rows, no dead
    tuples, analysed, nothing left from an earlier method."""
    with srv.admin() as c:
        c.execute("DROP DATABASE IF EXISTS run")
        c.execute("CREATE DATABASE run TEMPLATE bench")
    with srv.admin("run") as c:
        c.execute("CREATE TABLE t (id bigserial PRIMARY KEY, amount integer NOT NULL, note text)")
        c.execute("INSERT INTO t SELECT * FROM base ORDER BY id")
        c.execute("SELECT setval('t_id_seq', (SELECT max(id) FROM t))")
        if with_new_column:
            c.execute("ALTER TABLE t ADD COLUMN amount_big bigint")
        c.execute("VACUUM ANALYZE t")
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

    def run(self, binary, *args):
        """(seconds, peak RSS KiB) of one migrate process."""
        # GNU time reports the peak RSS of migrate itself (a rusage taken
        # from Python would include the interpreter's pages before exec)
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "maxrss %M", binary, *args, "-q"],
                           cwd=self.dir, env=self.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        took = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit(f"migrate {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return took, int(p.stderr.strip().split("\n")[-1].split()[-1])


def run_migrate(srv, base, binary, n, label, *opts):
    fresh_table(srv, False)
    proj = Project(srv, base, label)
    proj.run(binary, "expand")
    took, rss = proj.run(binary, "backfill", *opts)
    _, rss_v = proj.run(binary, "switch-reads")   # verifies every row
    return n / took, max(rss, rss_v), took


# ---- foreground latency ---------------------------------------------------------------------

PGBENCH_SCRIPT = """\\set id random(1, {n})
BEGIN;
SELECT amount FROM t WHERE id = :id;
UPDATE t SET amount = amount + 1 WHERE id = :id;
END;
"""


class Pgbench:
    """pgbench at a fixed rate against t, logging every transaction."""

    def __init__(self, srv, base, n, rate, seconds, label):
        self.dir = base / f"pgbench-{label}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        script = self.dir / "rw.sql"
        script.write_text(PGBENCH_SCRIPT.format(n=n))
        url = srv.url.rsplit("/", 1)[0] + "/run"
        self.proc = subprocess.Popen(
            ["pgbench", "-n", "-c", "4", "-j", "2", "-R", str(rate), "-T", str(seconds),
             "-f", str(script), "-l", "--log-prefix", str(self.dir / "log"), url],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def latencies(self, t_from, t_to):
        """Latencies (ms) of transactions that started within [t_from, t_to]
        (epoch seconds); pgbench logs the end time, so start = end - latency."""
        self.proc.wait()
        out = []
        for f in self.dir.glob("log*"):
            for line in f.read_text().split("\n"):
                parts = line.split()
                if len(parts) < 6:
                    continue
                lat_us = int(parts[2])
                end = int(parts[4]) + int(parts[5]) / 1e6
                start = end - lat_us / 1e6
                if t_from <= start <= t_to:
                    out.append(lat_us / 1000.0)
        return out


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def latency_row(label, lats):
    return (label, len(lats), pct(lats, 50), pct(lats, 99), max(lats) if lats else float("nan"))


def foreground(srv, base, binary, n, rate):
    rows = []
    # idle: the expanded table (its trigger fires for these writes, as during the backfill)
    fresh_table(srv, False)
    proj = Project(srv, base, "fg")
    proj.run(binary, "expand")
    pb = Pgbench(srv, base, n, rate, 12, "idle")
    time.sleep(1)
    t0 = time.time()
    time.sleep(10)
    rows.append(latency_row("idle (expanded table, no migration running)", pb.latencies(t0, time.time())))

    # during the default backfill
    pb = Pgbench(srv, base, n, rate, 120, "backfill")
    time.sleep(2)
    t0 = time.time()
    took, _ = proj.run(binary, "backfill")
    t1 = time.time()
    time.sleep(3)       # transactions started in the window may end after it
    pb.proc.terminate()
    rows.append(latency_row(f"during migrate backfill, default settings ({took:.1f} s)",
                            pb.latencies(t0, t1)))

    # during one UPDATE of the whole column
    fresh_table(srv, True)
    pb = Pgbench(srv, base, n, rate, 120, "update")
    time.sleep(2)
    t0 = time.time()
    took = timed_sql(srv, "UPDATE t SET amount_big = amount::bigint * 2")
    t1 = time.time()
    time.sleep(3)       # the transactions it blocked end after it
    pb.proc.terminate()
    rows.append(latency_row(f"during one UPDATE of the whole column ({took:.1f} s)",
                            pb.latencies(t0, t1)))
    return rows


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
            f"{platform.platform()}, PostgreSQL {ver} (fsync on, shared_buffers 128MB)")


def main():
    global SRV
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--bin", default=str(ROOT / "build/migrate"))
    ap.add_argument("--rate", type=int, default=400, help="pgbench transactions/s")
    args = ap.parse_args()
    binary = str(Path(args.bin).resolve())
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="migrate-bench."))
    SRV = Server(base)
    try:
        print(f"machine: {machine()}\n")
        results = {}
        for n in sizes:
            print(f"== {n:,} rows ==", flush=True)
            make_base(SRV, n)
            r = {}
            r["single"] = run_single_update(SRV, n)
            r["jobs1"], r["rss1"], _ = run_migrate(SRV, base, binary, n, "j1", "--jobs", "1", "--target-batch-ms", "500")
            r["jobs2"], r["rss2"], _ = run_migrate(SRV, base, binary, n, "j2", "--jobs", "2", "--target-batch-ms", "500")
            r["default"], r["rssd"], _ = run_migrate(SRV, base, binary, n, "jd")
            r["pgroll"] = run_pgroll_method(SRV, n)
            results[n] = r
            print_throughput(n, r)
            if n == sizes[0]:
                fg = foreground(SRV, base, binary, n, args.rate)
                print_foreground(n, args.rate, fg)
        if len(sizes) > 1:
            a, b = results[sizes[0]], results[sizes[-1]]
            print(f"scaling {sizes[0]:,} -> {sizes[-1]:,} rows: migrate --jobs 1 "
                  f"{b['jobs1'] / a['jobs1']:.2f}x, default {b['default'] / a['default']:.2f}x, "
                  f"--jobs 2 {b['jobs2'] / a['jobs2']:.2f}x the rows/s")
    finally:
        SRV.stop()
        shutil.rmtree(base, ignore_errors=True)


def print_throughput(n, r):
    single = r["single"]
    rows = [
        ("one UPDATE, no trigger (the ceiling)", single, None),
        ("migrate backfill --jobs 1, unthrottled (--target-batch-ms 500)", r["jobs1"], r["rss1"]),
        ("migrate backfill --jobs 2, unthrottled (--target-batch-ms 500)", r["jobs2"], r["rss2"]),
        ("migrate backfill, default settings", r["default"], r["rssd"]),
        ("pgroll's method re-implemented in SQL, server-side", r["pgroll"], None),
    ]
    print(f"\n| method ({n:,} rows) | rows/s | vs ceiling | peak RSS |")
    print("|---|---:|---:|---:|")
    for label, rate, rss in rows:
        print(f"| {label} | {rate:,.0f} | {rate / single:.2f}x | "
              f"{'%.1f MiB' % (rss / 1024) if rss else '-'} |")
    print(f"\nmigrate --jobs 1 / pgroll method: {r['jobs1'] / r['pgroll']:.2f}x; "
          f"default / pgroll method: {r['default'] / r['pgroll']:.2f}x\n", flush=True)


def print_foreground(n, rate, rows):
    print(f"| foreground pgbench ({n:,} rows, {rate} tx/s, 4 clients: SELECT + UPDATE by key) "
          f"| transactions | p50 ms | p99 ms | worst ms |")
    print("|---|---:|---:|---:|---:|")
    for label, count, p50, p99, worst in rows:
        print(f"| {label} | {count} | {p50:.2f} | {p99:.2f} | {worst:.1f} |")
    print(flush=True)


if __name__ == "__main__":
    main()
