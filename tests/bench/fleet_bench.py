#!/usr/bin/python3
"""Fleet benchmark (issue 17): one migration through its four phases on a
fleet of databases, both kinds, at several --fleet-jobs, against a
hand-written loop (one `migrate` after the other, what teams do today).

Not part of the test suite: it starts its own PostgreSQL and MariaDB
(the integration tests' harness), prints a table and removes everything.
Run it from the repository after building (the plain build):

    /usr/bin/python3 tests/bench/fleet_bench.py [--targets 100] [--rows 2000]
                                                [--jobs 1,4,8,16]
                                                [--bin build/migrate]

Half the targets are PostgreSQL databases, half MariaDB databases, on one
server of each kind (as shards often share servers); each has a table of
--rows rows and the migration adds a column that the backfill fills (v *
2). For each setting a fresh set of databases runs expand, backfill,
switch-reads and contract: the table has each phase's wall time, the
whole run's and the phase runs per second; below it, the fleet
process's peak RSS (the parent alone: each target's migrate is a child
of its own). The "loop" row runs the same four phases target by target
with a shell-style loop of plain `migrate` calls (MIGRATE_DATABASE_URL and
--state-file per target), the baseline the fleet replaces.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness.fleet import mariadb_databases, pg_databases  # noqa: E402
from harness.mariadb import MariaDbServer  # noqa: E402
from harness.pg import PgServer  # noqa: E402

MIGRATION = """\
description: items.w, twice v
operations:
  - add_column:
      table: items
      column: w
      type: integer
      backfill: "v * 2"
"""
PHASES = ["expand", "backfill", "switch-reads", "contract"]


def target_urls(pg, my, n, rows, label):
    """n fresh targets' URLs: half of them PostgreSQL databases (the
    first), half MariaDB ones, each with items of rows rows."""
    pgs, _template = pg_databases(pg, n // 2, rows, label)
    return [d.url for d in pgs + mariadb_databases(my, n - n // 2, rows, label)]


def write_project(d, urls, jobs):
    (d / "migrations").mkdir(parents=True)
    (d / "migrations" / "0001_add_w.yaml").write_text(MIGRATION)
    lines = [f"concurrency: {jobs}", "targets:"]
    for i, url in enumerate(urls):
        lines += [f"  - name: t{i:03d}", f"    url: {json.dumps(url)}"]
    (d / "fleet.yaml").write_text("\n".join(lines) + "\n")


def timed(cmd, cwd, env=None):
    """Wall seconds of cmd, which must exit 0."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])}... exit {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.monotonic() - t0


def parent_rss_kib(cmd, cwd):
    """The fleet parent's own peak RSS (KiB) and exit status: its VmHWM,
    read from /proc while it runs (RUSAGE_CHILDREN would mix in the
    targets' own migrate processes)."""
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        try:
            for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.01)
    return peak, p.returncode


def run_fleet_timed(binary, d, jobs):
    row = {"setting": f"--fleet, {jobs} at once"}
    total = 0.0
    for phase in PHASES:
        s = timed([binary, "--fleet", "fleet.yaml", phase], d)
        row[phase] = s
        total += s
    row["total"] = total
    return row


def run_loop(binary, d, urls):
    row = {"setting": "loop, one after the other"}
    total = 0.0
    for phase in PHASES:
        t0 = time.monotonic()
        for i, url in enumerate(urls):
            subprocess.run([binary, "--state-file", str(d / "loop" / f"t{i:03d}.db"), phase],
                           cwd=d, env={**os.environ, "MIGRATE_DATABASE_URL": url},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        row[phase] = time.monotonic() - t0
        total += row[phase]
    row["total"] = total
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--jobs", default="1,4,8,16")
    ap.add_argument("--bin", default=str(ROOT / "build" / "migrate"))
    a = ap.parse_args()
    binary = str(Path(a.bin).resolve())
    jobs = [int(j) for j in a.jobs.split(",")]
    pg, my = PgServer(), MariaDbServer()
    pg.start()
    my.start()
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"fleet-bench-{os.getpid()}"
    rows = []
    try:
        settings = [("loop", None)] + [("fleet", j) for j in jobs]
        for k, (kind, j) in enumerate(settings):
            d = base / f"run{k}"
            urls = target_urls(pg, my, a.targets, a.rows, f"r{k}")
            write_project(d, urls, j or 1)
            (d / "loop").mkdir()
            if kind == "loop":
                rows.append(run_loop(binary, d, urls))
            else:
                rows.append(run_fleet_timed(binary, d, j))
            print(f"... {rows[-1]['setting']}: {rows[-1]['total']:.1f} s", file=sys.stderr)
        # the fleet parent's memory, on one more set at the largest setting
        d = base / "rss"
        urls = target_urls(pg, my, a.targets, a.rows, "rss")
        write_project(d, urls, max(jobs))
        timed([binary, "--fleet", "fleet.yaml", "expand"], d)
        parent_kib, rc = parent_rss_kib([binary, "--fleet", "fleet.yaml", "backfill"], d)
    finally:
        pg.stop()
        my.stop()
        subprocess.run(["rm", "-rf", str(base)])
    print(f"\n{a.targets} targets ({a.targets // 2} PostgreSQL 15 + "
          f"{a.targets - a.targets // 2} MariaDB databases, one server each), "
          f"{a.rows} rows each, add_column with a backfill; {os.cpu_count()} cores\n")
    print("| how | " + " | ".join(PHASES) + " | all four | phase runs/s |")
    print("|---|" + "---:|" * (len(PHASES) + 2))
    for r in rows:
        cells = " | ".join(f"{r[p]:.1f} s" for p in PHASES)
        print(f"| {r['setting']} | {cells} | {r['total']:.1f} s | "
              f"{a.targets * len(PHASES) / r['total']:.1f} |")
    print(f"\nfleet parent's peak RSS (backfill, {max(jobs)} at once): {parent_kib / 1024:.1f} MiB"
          " (each target's migrate is a child of its own)")


if __name__ == "__main__":
    main()
