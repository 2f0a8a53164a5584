#!/usr/bin/python3
"""The operation matrix in full (issue 13): every case of tests/operations/
on each target, every kill point (MG_OPERATIONS_KILL_SLICE=0), with the
time of each check; prints a table per case and target.

CI runs the same test file (tests/integration/test_operations.py) split
into ctest entries, with a bounded slice of the kill points in the
sanitizer build (tests/CMakeLists.txt, docs/performance.md); this runs
every point, to measure the whole loop and to look for what a slice might
miss. Run it from the repository after building with test hooks:

    /usr/bin/python3 tests/bench/operations_fault_loop.py
        [--bin build/migrate] [--only postgres|mariadb] [--cases a,b]
        [--checks kills|writers|rollback|all] [--slice N]

Needs what the integration tests need (postgresql, mariadb-server,
python3-psycopg, python3-pymysql, python3-pytest, python3-yaml).
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
TARGETS = ("postgres", "mariadb")


def run(target, a, binary, stats):
    env = dict(os.environ, MIGRATE_BIN=str(binary), MG_OPERATIONS_STATS=str(stats),
               MG_OPERATIONS_KILL_SLICE=str(a.slice), MG_OPERATIONS_TARGETS=target)
    if a.cases:
        env["MG_OPERATIONS_CASES"] = a.cases
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "test_operations.py"]
    if a.checks != "all":
        cmd += ["-k", a.checks]
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT / "tests" / "integration", env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return time.monotonic() - t0, p.returncode, tail, p.stdout


def table(records):
    """One row per case and target: wall and CPU seconds of each check
    (CPU: the test process, the migrate runs and the server)."""
    by = collections.defaultdict(dict)
    points = {}
    for r in records:
        key = (r["case"], r["target"])
        by[key][r["check"]] = (r["seconds"], r.get("cpu", 0.0))
        if "points" in r:
            points[key] = "%d/%d" % (r["points_run"], r["points"])
    head = ("case", "target", "writers s/cpu", "rollbacks s/cpu", "kill points",
            "kills s/cpu", "total s/cpu")
    rows = []

    def cell(v):
        return "%.1f/%.1f" % v if v else "-"
    for (case, target), checks in sorted(by.items()):
        total = (sum(v[0] for v in checks.values()), sum(v[1] for v in checks.values()))
        rows.append((case, target, cell(checks.get("writers")),
                     cell(checks.get("rollbacks")), points.get((case, target), "-"),
                     cell(checks.get("kills")), cell(total)))
    out = [head] + rows
    widths = [max(len(str(r[i])) for r in out) for i in range(len(head))]
    for k, r in enumerate(out):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    wall = sum(r["seconds"] for r in records)
    cpu = sum(r.get("cpu", 0.0) for r in records)
    loads = [r["load"] for r in records if "load" in r]
    print("\nsum of the checks: %.0f s wall, %.0f CPU s, over %d cases x targets"
          " (load average %.1f..%.1f)" % (wall, cpu, len(rows),
                                          min(loads or [0]), max(loads or [0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(ROOT / "build" / "migrate"))
    ap.add_argument("--only", choices=TARGETS)
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--checks", default="kills",
                    help="pytest -k expression over the checks, or 'all' (default: kills)")
    ap.add_argument("--slice", type=int, default=0,
                    help="kill points per case and target (default 0: every point)")
    ap.add_argument("--keep-stats", help="copy the JSON lines (one per check) here")
    a = ap.parse_args()
    binary = Path(a.bin).resolve()
    failed = False
    with tempfile.TemporaryDirectory(prefix="migrate-op-matrix-") as tmp:
        stats = Path(tmp) / "stats.jsonl"
        stats.touch()
        for target in ([a.only] if a.only else TARGETS):
            secs, rc, tail, out = run(target, a, binary, stats)
            print("%s: %s (%.0f s, pytest exit %d)" % (target, tail, secs, rc))
            if rc != 0:
                failed = True
                print(out[-6000:])
        records = [json.loads(line) for line in stats.read_text().splitlines() if line]
        if a.keep_stats:
            Path(a.keep_stats).write_text(stats.read_text())
    print()
    table(records)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
