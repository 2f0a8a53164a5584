"""migrate's DDL does not queue the application behind it (issue 15, item 2).

An application writer runs short transactions on the table (BEGIN; UPDATE
one row; COMMIT) the whole time and records how long each statement took.

(a) Another session holds a transaction on the table (a plain read: it
    blocks no writer, but every DDL statement waits for it) while expand
    and then contract run with the default --lock-timeout. Before, each
    DDL try waited for its lock up to --lock-timeout (PostgreSQL: 500 ms;
    MariaDB: lock_wait_timeout, 1 s) and every statement of the writer on
    the table queued behind it. Now no writer statement waits longer than
    STALL_BOUND_MS, and migrate goes through once the holder has ended.
(b) An index copy (alter_column of an indexed column: the copy on the new
    column is built online) under the writer, from expand to switch-reads:
    no writer statement waits longer than the bound, and the index is
    there and valid; backfill --verify, which reads every row, makes the
    writer wait for no lock at all.

What is measured: a sampler reads, every few ms, how long the writer's
session has been waiting for a lock (PostgreSQL: pg_locks.waitstart;
MariaDB: PROCESSLIST.TIME_MS of a statement in a lock-wait state); no
wait may reach LOCK_WAIT_BOUND_MS (the issue's 100 ms, with margin: a
writer also waits while migrate's statement runs under its lock, which
takes longer on a busy machine). The writer's own
statement latencies, which on a busy 2-core machine also hold the time
the writer or the server waited for a CPU, must stay under
STALL_BOUND_MS. Both are far below the old waits of 500 ms (PostgreSQL)
and 1 s (MariaDB), which fail them.
"""

import threading
import time

import pytest

import mysql_scenarios as my

LOCK_WAIT_BOUND_MS = 150
# (b) on MariaDB: with no long transaction, expand's ALTER and CREATE
# TRIGGER statements get their locks between the writer's transactions and
# the writer waits while each runs under its exclusive lock: 20 to 50 ms
# each on an idle machine, up to 166 ms measured at load 12 to 16
BUILD_LOCK_WAIT_BOUND_MS = 250
STALL_BOUND_MS = 300
ROWS = 2000

ADD_FLAG = """
operations:
  - add_column:
      table: acct
      column: flag
      type: smallint
      default: "0"
      backfill: "CASE WHEN n > 5 THEN 1 ELSE 0 END"
"""

WIDEN_K = {
    "pg": """
operations:
  - alter_column:
      table: acct
      column: k
      to: k_wide
      type: bigint
      up: "k::bigint"
      down: "k_wide::integer"
""",
    "mysql": """
operations:
  - alter_column:
      table: acct
      column: k
      to: k_wide
      type: bigint
      up: "CAST(k AS SIGNED)"
      down: "k_wide"
""",
}


def make_table(target, rows):
    """acct(id, k indexed, n, note) with `rows` rows."""
    db = target.db
    if target.kind == "mysql":
        # PROCESS, as grants.md recommends: migrate sees the other
        # sessions' transactions (INNODB_TRX)
        db.grant_session_visibility()
        db.execute("CREATE TABLE acct (id bigint NOT NULL PRIMARY KEY, k int NOT NULL,"
                   " n int NOT NULL DEFAULT 0, note varchar(100), KEY acct_k_idx (k))")
        my.seed(db, "INSERT INTO acct (id, k, n, note) VALUES (%s, %s, 0, %s)",
                [(i, i % 997, "row-%d" % i) for i in range(1, rows + 1)])
    else:
        db.execute("CREATE TABLE acct (id bigint PRIMARY KEY, k integer NOT NULL,"
                   " n integer NOT NULL DEFAULT 0, note text)")
        db.execute("INSERT INTO acct SELECT g, g %% 997, 0, 'row-' || g"
                   " FROM generate_series(1, %d) g" % rows)
        db.execute("CREATE INDEX acct_k_idx ON acct (k)")


class LatencyWriter(threading.Thread):
    """Short transactions on acct, one after the other, each statement
    timed: .samples is [(end time, ms, statement)], .errors the failures
    (there must be none: the application does not retry)."""

    def __init__(self, db, rows):
        super().__init__(daemon=True)
        self.conn = db.connect()
        self.rows = rows
        self.samples = []
        self.errors = []
        self.stop_event = threading.Event()

    def timed(self, cur, sql, params=None):
        t0 = time.monotonic()
        cur.execute(sql, params)
        t1 = time.monotonic()
        self.samples.append((t1, (t1 - t0) * 1000.0, sql.split()[0]))

    def run(self):
        i = 0
        with self.conn.cursor() as cur:
            while not self.stop_event.is_set():
                i += 1
                try:
                    self.timed(cur, "BEGIN")
                    self.timed(cur, "UPDATE acct SET n = n + 1 WHERE id = %s",
                               (i * 7919 % self.rows + 1,))
                    self.timed(cur, "COMMIT")
                except Exception as e:  # noqa: BLE001 - recorded, asserted
                    self.errors.append(repr(e))
                    try:
                        cur.execute("ROLLBACK")
                    except Exception:   # noqa: BLE001
                        pass
                time.sleep(0.002)

    def worst(self, since, until):
        """The slowest statement that ended in [since, until]: (ms, stmt)."""
        inside = [(ms, s) for t, ms, s in self.samples if since <= t <= until]
        assert inside, "the writer ran no statement in the window"
        return max(inside)

    def finish(self):
        self.stop_event.set()
        self.join(30)
        self.conn.close()
        assert not self.errors, self.errors[:5]


class LockWaitSampler(threading.Thread):
    """Every few ms, how long the session `session_id` has been waiting
    for a lock: .samples is [(time, ms)]."""

    SQL = {
        "pg": "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - waitstart)"
              " * 1000), 0)::float8 FROM pg_locks WHERE pid = %s AND NOT granted",
        "mysql": "SELECT COALESCE(MAX(TIME_MS), 0) FROM information_schema.PROCESSLIST"
                 " WHERE ID = %s AND STATE LIKE '%%lock%%'",
    }

    def __init__(self, target, session_id):
        super().__init__(daemon=True)
        self.conn = target.db.connect()
        self.sql = self.SQL[target.kind]
        self.session_id = session_id
        self.samples = []
        self.stop_event = threading.Event()

    def run(self):
        with self.conn.cursor() as cur:
            while not self.stop_event.is_set():
                cur.execute(self.sql, (self.session_id,))
                self.samples.append((time.monotonic(), float(cur.fetchall()[0][0] or 0)))
                time.sleep(0.003)

    def longest(self, since, until):
        return max([ms for t, ms in self.samples if since <= t <= until] or [0.0])

    def finish(self):
        self.stop_event.set()
        self.join(30)
        self.conn.close()


def session_id(target, conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()" if target.kind == "pg"
                    else "SELECT CONNECTION_ID()")
        return cur.fetchall()[0][0]


class Watched:
    """The writer and the sampler of its lock waits, started together."""

    def __init__(self, target, rows):
        self.writer = LatencyWriter(target.db, rows)
        self.sampler = LockWaitSampler(target, session_id(target, self.writer.conn))

    def __enter__(self):
        self.writer.start()
        self.sampler.start()
        return self

    def __exit__(self, *exc):
        self.sampler.finish()
        self.writer.finish()

    def check(self, what, since, until, bound=LOCK_WAIT_BOUND_MS):
        """Assert the bounds over [since, until]: (longest lock wait,
        slowest statement) in ms."""
        wait = self.sampler.longest(since, until)
        ms, stmt = self.writer.worst(since, until)
        assert wait < bound, \
            f"{what}: the writer waited {wait:.0f} ms for a lock (bound {bound} ms)"
        assert ms <= STALL_BOUND_MS, \
            f"{what}: a writer {stmt} took {ms:.0f} ms (bound {STALL_BOUND_MS} ms)"
        return wait, ms


def hold_table(target, seconds):
    """A transaction that read acct (PostgreSQL: ACCESS SHARE; MariaDB: a
    shared metadata lock and an InnoDB transaction), ended after
    `seconds`. Returns (thread, list that gets the end time)."""
    conn = target.db.connect()
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("SELECT count(*) FROM acct")
    cur.fetchall()
    ended = []

    def release():
        time.sleep(seconds)
        cur.execute("COMMIT")
        ended.append(time.monotonic())
        cur.close()
        conn.close()

    t = threading.Thread(target=release, daemon=True)
    t.start()
    return t, ended


def run_behind_holder(target, watched, *args):
    """Run migrate with a transaction holding the table when it starts:
    it must wait for the holder without queueing the writer, and go
    through once the holder has ended. (longest lock wait, slowest
    statement) of the writer, in ms."""
    holder, ended = hold_table(target, 3.0)
    # older than a second when migrate looks (MariaDB's INNODB_TRX counts
    # whole seconds)
    time.sleep(1.2)
    start = time.monotonic()
    r = target.project.ok(*args)
    done = time.monotonic()
    holder.join(10)
    got = watched.check(" ".join(args), start, done)
    assert ended and ended[0] < done, "migrate finished before the holder ended: it did not wait"
    # the holder outlasted the first try: the step was tried again
    assert "lock not granted" in r.err, r.err
    return got


def baseline(watched, seconds=0.8):
    start = time.monotonic()
    time.sleep(seconds)
    return watched.check("idle", start, time.monotonic())


def report(target, figures):
    print(f"{target.name}: writer's longest lock wait / slowest statement: "
          + ", ".join(f"{k} {w:.0f} / {ms:.0f} ms" for k, (w, ms) in figures.items()))


def test_ddl_waits_for_a_long_transaction_without_queueing_writers(target):
    make_table(target, ROWS)
    target.project.write("0001_add_flag.yaml", ADD_FLAG)
    figures = {}
    with Watched(target, ROWS) as w:
        figures["idle"] = baseline(w)
        figures["expand"] = run_behind_holder(target, w, "expand")
        target.project.ok("backfill")
        target.project.ok("switch-reads")
        figures["contract"] = run_behind_holder(target, w, "contract")
    report(target, figures)
    assert target.project.phases() == {1: "contracted"}
    assert target.query("SELECT count(*) FROM acct WHERE flag IS NULL")[0][0] == 0


def index_on(target, column):
    """(name, valid) of the index whose first column is `column` on acct,
    or None."""
    if target.kind == "mysql":
        rows = target.query(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE"
            " TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'acct'"
            " AND COLUMN_NAME = %s AND SEQ_IN_INDEX = 1", (column,))
        return (rows[0][0], True) if rows else None
    rows = target.query(
        "SELECT c.relname, i.indisvalid AND i.indisready FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = 'acct'::regclass AND a.attname = %s", (column,))
    return tuple(rows[0]) if rows else None


def test_index_copy_does_not_queue_writers(target):
    rows = 20000
    make_table(target, rows)
    target.project.write("0001_widen_k.yaml", WIDEN_K[target.kind])
    figures = {}
    with Watched(target, rows) as w:
        figures["idle"] = baseline(w)
        # backfill --verify and switch-reads read every row with the
        # writer running: plain reads, which make it wait for nothing
        for args in (("expand",), ("backfill",), ("backfill", "--verify"),
                     ("switch-reads",)):
            start = time.monotonic()
            target.project.ok(*args)
            figures[" ".join(args)] = w.check(" ".join(args), start, time.monotonic(),
                                              BUILD_LOCK_WAIT_BOUND_MS)
    # the verification reads took no lock the writer waited for
    assert figures["backfill --verify"][0] == 0, figures
    report(target, figures)
    idx = index_on(target, "k_wide")
    assert idx is not None and idx[1], f"no valid index on k_wide: {idx}"


INDEX_N = """
operations:
  - create_index:
      table: acct
      name: acct_n_idx
      columns: [n]
"""


@pytest.mark.targets("mariadb")
def test_index_build_goes_soon_after_the_old_transaction_ends(target):
    """MariaDB: before an index build waits for its metadata lock, migrate
    watches INNODB_TRX for the old transactions to end. That table is a
    cache a read refreshes only 0.1 s after the previous read: polled
    every 20 ms it kept showing the ended transaction, and the build
    waited the whole --lock-timeout (here 20 s) for nothing."""
    make_table(target, 2000)
    target.project.write("0001_index_n.yaml", INDEX_N)
    holder, ended = hold_table(target, 3.0)
    time.sleep(1.2)         # older than a second when migrate looks
    r = target.project.ok("expand", "--lock-timeout", "20s")
    done = time.monotonic()
    holder.join(10)
    assert ended and ended[0] < done, "expand finished before the holder ended: " + r.err
    assert done - ended[0] < 5, \
        "expand went through %.1f s after the holder ended" % (done - ended[0])
    assert index_on(target, "n") == ("acct_n_idx", True)
