#!/usr/bin/python3
"""SIGKILL loop (issue 11): migrate killed at seeded random moments of
every phase, many times, on PostgreSQL and MariaDB, each run compared with
a run without faults; prints a table.

The CI suite (tests/integration/test_fault_suite.py, one test per fault
parametrised by target) kills each phase twice; this runs the same
scenario N times per phase per database through pytest (the same harness:
throwaway servers, the same application writes, the same comparison of
schema and every row) and summarises what the runs went through. Run it
from the repository after building with test hooks:

    /usr/bin/python3 tests/bench/fault_loop.py [--iterations 10]
                     [--bin build/migrate] [--only postgres|mariadb]

Needs what the integration tests need (postgresql, mariadb-server,
python3-psycopg, python3-pymysql, python3-pytest).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILE = "test_fault_suite.py"
DATABASES = ("mariadb", "postgres")     # its targets
PHASES = ("expand", "backfill", "switch-reads", "contract", "rollback")


def run(database, iterations, binary, stats):
    env = dict(os.environ, MIGRATE_BIN=str(binary), MIGRATE_FAULT_STATS=str(stats),
               MIGRATE_FAULT_ITERATIONS=str(iterations))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        FILE, "-k", "sigkill and " + database],
                       cwd=ROOT / "tests" / "integration", env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return time.monotonic() - t0, p.returncode, tail, p.stdout


def table(rows):
    head = ("database", "phase", "runs", "killed mid-run", "done before kill",
            "reruns mean/max", "refused first", "same end state", "failed")
    out = [head] + rows
    widths = [max(len(str(r[i])) for r in out) for i in range(len(head))]
    for k, r in enumerate(out):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def summarise(records):
    rows, refusals = [], collections.Counter()
    by = collections.defaultdict(list)
    for r in records:
        by[r["database"], r["phase"]].append(r)
    for (database, phase), rs in sorted(by.items(), key=lambda kv: (
            kv[0][0], PHASES.index(kv[0][1]))):
        reruns = [r.get("reruns", 0) for r in rs]
        for r in rs:
            for msg in r.get("refusals", []):
                refusals[msg] += 1
        rows.append((database, phase, len(rs),
                     sum(1 for r in rs if r.get("killed")),
                     sum(1 for r in rs if not r.get("killed")),
                     "%.1f/%d" % (sum(reruns) / len(reruns), max(reruns)),
                     sum(1 for r in rs if r.get("refusals")),
                     sum(1 for r in rs if r["outcome"].startswith("same")),
                     sum(1 for r in rs if r["outcome"].startswith("FAILED"))))
    return rows, refusals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--bin", default=str(ROOT / "build" / "migrate"))
    ap.add_argument("--only", choices=DATABASES)
    a = ap.parse_args()
    binary = Path(a.bin).resolve()
    with tempfile.TemporaryDirectory(prefix="migrate-fault-loop-") as tmp:
        stats = Path(tmp) / "stats.jsonl"
        stats.touch()
        for database in ([a.only] if a.only else DATABASES):
            secs, rc, tail, out = run(database, a.iterations, binary, stats)
            print("%s: %s (%.0f s, pytest exit %d)" % (database, tail, secs, rc))
            if rc != 0:
                print(out[-4000:])
        records = [json.loads(line) for line in stats.read_text().splitlines() if line]
    rows, refusals = summarise(records)
    print()
    print("SIGKILL at a seeded random moment of each phase, then the same command "
          "until it finishes (%d per phase and database):" % a.iterations)
    print()
    table(rows)
    if refusals:
        print("\nwhat the reruns that did not finish said:")
        for msg, n in refusals.most_common():
            print("  %3d x %s" % (n, msg))
    return 1 if any(r[-1] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
