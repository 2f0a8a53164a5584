#!/usr/bin/python3
"""Where the time of a MariaDB backfill goes (issue 5), on an idle server.

Not part of the test suite. Starts a throwaway MariaDB (tests/mariadb_server.sh,
durable: innodb_flush_log_at_trx_commit=1, doublewrite on) in a temporary
directory, makes a sysbench-like table of N rows (id int auto_increment
primary key, k int with an index, c char(120), pad char(60)) and, for
each task, on a fresh copy after `migrate expand`:

  - one UPDATE of the whole column with migrate's dual-write triggers
    dropped: the cost of the in-place update alone;
  - the same UPDATE with the triggers in place (the session marked as the
    backfill, so they return at their first test): what the triggers add;
  - `migrate backfill` with its defaults: what batching, checkpoints and
    the adaptive batch size add.

Tasks: rename c -> c_new (rename_column), and k int -> k_new bigint
(alter_column). Prints one markdown table.

    /usr/bin/python3 tests/bench/mysql_backfill_cost.py [--rows 1000000] [--bin build/migrate]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parents[2]
TASKS = {
    "rename c -> c_new": ("rename_column:\n      table: sbtest1\n      from: c\n      to: c_new\n",
                          "c_new = (c)"),
    "alter k int -> k_new bigint": ("alter_column:\n      table: sbtest1\n      column: k\n"
                                    "      to: k_new\n      type: bigint\n      up: k\n"
                                    "      down: k_new\n", "k_new = (k)"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--bin", default=str(ROOT / "build/migrate"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mg-bfcost-"))
    srv = work / "srv"
    subprocess.run(["sh", str(ROOT / "tests/mariadb_server.sh"), "start", str(srv),
                    "--innodb-flush-log-at-trx-commit=1", "--innodb-doublewrite=1",
                    "--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        run(args, work, int((srv / "port").read_text()))
    finally:
        subprocess.run(["sh", str(ROOT / "tests/mariadb_server.sh"), "stop", str(srv)])
        subprocess.run(["rm", "-rf", str(work)])


def run(args, work, port):
    url = f"mysql://root@127.0.0.1:{port}/b"
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE b")
    cur.execute("USE b")
    cur.execute("CREATE TABLE base (id int NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                " k int NOT NULL DEFAULT 0, c char(120) NOT NULL DEFAULT '',"
                " pad char(60) NOT NULL DEFAULT '', KEY k_1 (k))")
    cur.execute("INSERT INTO base (k, c, pad) SELECT seq % 100000,"
                " CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2), '-', seq), MD5(seq)"
                f" FROM seq_1_to_{args.rows}")
    ver = pymysql_version(cur)
    rows = []
    for task, (op, set_clause) in TASKS.items():
        res = {}
        for method in ("update", "update+triggers", "backfill"):
            mig = work / "m"
            mig.mkdir(exist_ok=True)
            (mig / "0001_t.yaml").write_text(f"description: bench\noperations:\n  - {op}")
            state = work / "state.db"
            for f in work.glob("state.db*"):
                f.unlink()
            cur.execute("DROP TABLE IF EXISTS sbtest1, _migrate_history")
            cur.execute("CREATE TABLE sbtest1 LIKE base")
            cur.execute("INSERT INTO sbtest1 SELECT * FROM base")
            migrate(args.bin, url, mig, state, "expand", "1")
            time.sleep(2)
            t0 = time.monotonic()
            if method == "backfill":
                migrate(args.bin, url, mig, state, "backfill", "1")
            else:
                if method == "update":
                    cur.execute("SELECT trigger_name FROM information_schema.triggers"
                                " WHERE trigger_schema = 'b' AND event_object_table = 'sbtest1'")
                    for (t,) in cur.fetchall():
                        cur.execute(f"DROP TRIGGER `{t}`")
                    t0 = time.monotonic()
                cur.execute("SET @migrate_backfill = 1")
                cur.execute(f"UPDATE sbtest1 SET {set_clause}, _migrate_1 = 1 WHERE _migrate_1 = 0")
            res[method] = time.monotonic() - t0
        rows.append((task, res))
    print(f"MariaDB {ver}, {args.rows:,} rows, idle server, "
          "innodb_flush_log_at_trx_commit=1, doublewrite on\n")
    print("| task | one UPDATE, no trigger s | one UPDATE, migrate's triggers s | migrate backfill (defaults) s | rows/s (backfill) |")
    print("|---|---:|---:|---:|---:|")
    for task, r in rows:
        print(f"| {task} | {r['update']:.2f} | {r['update+triggers']:.2f} | {r['backfill']:.2f} "
              f"| {args.rows / r['backfill']:,.0f} |")


def pymysql_version(cur):
    cur.execute("SELECT VERSION()")
    return cur.fetchone()[0]


def migrate(binary, url, mig, state, *args):
    r = subprocess.run([binary, "-d", url, "-m", str(mig), "--state", str(state), *args],
                       capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    if r.returncode != 0:
        sys.exit(f"migrate {' '.join(args)} failed:\n{r.stderr}")


if __name__ == "__main__":
    main()
