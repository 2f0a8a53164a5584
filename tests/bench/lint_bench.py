#!/usr/bin/python3
"""Lint benchmark (issue 14): `migrate lint --format json` over a folder of
1,000 generated migration files, the target being under 1 s.

Not part of the test suite: it prints a table and changes nothing outside a
temporary directory. Run it from the repository after building (the plain
build, not the sanitizer one):

    /usr/bin/python3 tests/bench/lint_bench.py [--files 1000] [--runs 5]
                                               [--bin build/migrate]
                                               [--dialect postgres|mysql]

The mix, per 10 files (deterministic: file i gets kind i % 10): 4 sql steps
with several statements in each phase (index builds, constraints, renames,
updates, some of them unsafe so that rules report), 2 add_column with a
default and a backfill expression, 1 alter_column with up and down, 1
create_table of 8 columns with defaults and checks, 1 create_index with a
partial predicate, 1 with a suppression comment. Wall time is the median of
--runs, CPU s the median user + system time (what the wall time would be on
an idle core); max RSS is the child's peak (getrusage). A run's exit status 1 (an
error-level finding) is expected: the files are meant to have findings.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sql_step(i):
    t = f"orders_{i % 37}"
    return f"""\
description: sql step {i}
operations:
  - sql:
      expand: |
        CREATE INDEX {t}_user_{i} ON {t} (user_id);
        ALTER TABLE {t} ADD COLUMN note_{i} text;
        ALTER TABLE {t} ADD CONSTRAINT {t}_fk_{i} FOREIGN KEY (user_id)
          REFERENCES users (id) NOT VALID;
        COMMENT ON COLUMN {t}.note_{i} IS 'added by migration {i}';
      backfill: |
        UPDATE {t} SET note_{i} = 'n/a' WHERE id < 1000;
      switch_reads: ALTER TABLE {t} VALIDATE CONSTRAINT {t}_fk_{i};
      contract: |
        DROP INDEX CONCURRENTLY IF EXISTS {t}_old_{i};
        ALTER TABLE {t} DROP COLUMN IF EXISTS legacy_{i};
      rollback: |
        ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {t}_fk_{i};
        ALTER TABLE {t} DROP COLUMN IF EXISTS note_{i};
        DROP INDEX IF EXISTS {t}_user_{i};
"""


def add_column(i):
    return f"""\
description: a column {i}
operations:
  - add_column:
      table: users_{i % 23}
      column: score_{i}
      type: numeric(10, 2)
      nullable: false
      default: "0"
      backfill: coalesce(points, 0) * 1.5 + length(name)
"""


def alter_column(i):
    return f"""\
operations:
  - alter_column:
      table: accounts_{i % 11}
      column: age
      to: age_big
      type: bigint
      up: CASE WHEN age < 0 THEN NULL ELSE age::bigint END
      down: "CASE WHEN age > 2147483647 THEN NULL ELSE age::int END"
"""


def create_table(i):
    cols = "\n".join(
        f"        - {{name: c{k}, type: {ty}, default: {d}}}"
        for k, (ty, d) in enumerate([("text", "\"'-'\""), ("bigint", "0"), ("boolean", "false"),
                                     ("timestamptz", "now()"), ("jsonb", "\"'{}'\""),
                                     ("numeric", "1.5"), ("text", "\"'x'\"")]))
    return f"""\
operations:
  - create_table:
      table: things_{i}
      columns:
        - {{name: id, type: bigint, identity: always, primary_key: true}}
{cols}
      constraints:
        - check: {{expression: "c1 >= 0 AND c5 > 0", name: things_{i}_positive}}
"""


def create_index(i):
    return f"""\
operations:
  - create_index:
      table: events_{i % 13}
      name: events_{i}_user_created
      columns: [user_id, created_at]
      where: deleted_at IS NULL AND kind <> 'internal'
"""


def suppressed(i):
    return f"""\
operations:
  # migrate-lint: ignore index-not-concurrent -- lookup table of 40 rows
  - sql:
      expand: CREATE INDEX lookup_{i} ON lookup (code)
      rollback: DROP INDEX lookup_{i}
"""


KINDS = [sql_step, sql_step, sql_step, sql_step, add_column, add_column, alter_column,
         create_table, create_index, suppressed]


def generate(folder, n):
    for i in range(1, n + 1):
        (folder / f"{i:04d}_bench_{i}.yaml").write_text(KINDS[i % len(KINDS)](i))


def run_once(binary, folder, dialect):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        out = os.open(folder.parent / "out.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(fd, 2)
        os.execv(binary, [binary, "lint", "--format", "json", "--dialect", dialect,
                          str(folder)])
    _, status, usage = os.wait4(pid, 0)  # the child's own rusage
    wall = time.perf_counter() - start
    rc = os.waitstatus_to_exitcode(status)
    if rc not in (0, 1):
        sys.exit(f"migrate lint exited {rc}")
    doc = json.loads((folder.parent / "out.json").read_text())
    return wall, usage.ru_maxrss, doc, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=str(ROOT / "build" / "migrate"))
    ap.add_argument("--dialect", default="postgres")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lint-bench-") as tmp:
        folder = Path(tmp) / "migrations"
        folder.mkdir()
        generate(folder, a.files)
        size = sum(p.stat().st_size for p in folder.iterdir())
        runs = [run_once(a.bin, folder, a.dialect) for _ in range(a.runs)]
    walls = [w for w, _, _, _ in runs]
    cpus = [c for _, _, _, c in runs]
    rss = max(r for _, r, _, _ in runs)
    doc = runs[0][2]
    by_rule = {}
    for f in doc["findings"]:
        by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; {a.bin}; dialect {a.dialect}")
    print(f"{'files':>6} {'bytes':>9} {'findings':>9} {'errors':>7} {'warnings':>9} "
          f"{'wall s (median)':>16} {'min':>6} {'max':>6} {'CPU s':>6} {'max RSS MB':>11}")
    print(f"{doc['files']:>6} {size:>9} {len(doc['findings']):>9} {doc['errors']:>7} "
          f"{doc['warnings']:>9} {statistics.median(walls):>16.3f} {min(walls):>6.3f} "
          f"{max(walls):>6.3f} {statistics.median(cpus):>6.3f} {rss / 1024:>11.1f}")
    print(f"load average {os.getloadavg()[0]:.1f}: on a busy machine the wall time is "
          "mostly waiting for a core; CPU s is user + system time")
    print("findings by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())))
    if statistics.median(walls) >= 1.0:
        print("over the 1 s target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
