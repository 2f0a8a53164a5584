"""Concurrent application writers for the end-to-end scenarios.

A scenario runs a *blue* writer (the old application version: it names only
the old columns, always with an explicit column list) and a *green* writer
(the new version: only the new names) against the table being migrated while
the `migrate` binary runs its phases. Every statement a writer runs must
succeed: there are no statement-level retries, and any exception is recorded
and fails the scenario when the writers are stopped.

Each writer remembers, in ``expected``, the last value it wrote to every row
it owns (the rows it inserted, plus any rows handed to it at start, such as
the seeded rows for blue). Writers only update rows they own, so at the end
of a scenario every row's value is exactly known.

    blue = Writer(db.connect, "blue", insert=blue_insert, update=blue_update,
                  owned=seeded)
    with running(blue) as blue_run:
        project.ok("expand", "1")
        green = Writer(db.connect, "green", insert=..., update=...)
        with running(green):
            ...
            blue_run.finish()       # stop blue early, asserting no errors
            project.ok("contract", "1")

run_phases() drives that whole window for one migration.

``insert(conn, i)`` runs one INSERT (``i`` is a per-writer counter, unique
within the writer) and returns ``(row_id, value)``; ``update(conn, rng,
row_id, last)`` runs one UPDATE of ``row_id`` (``last`` is the value this
writer wrote there before, so it may read it back first) and returns the
new value. Both may assert: a failed assertion is an error like any other.
``value`` is whatever the scenario later compares with the table (a string,
a tuple, ...).

The writers run on both servers: ``connect`` is a database's connect
(harness/pg.py Database or harness/mariadb.py MysqlDatabase, which take the
same keywords), and the rename example's writers use ``fetch()``, which
takes a psycopg or a pymysql connection.

The module also holds the catalog checks the scenarios share.
"""

import random
import threading
import time
import traceback
import zlib

__all__ = [
    "Writer", "Running", "running", "column_info", "migrate_leftovers",
    "assert_no_leftovers", "wait_for_ops", "assert_rows",
    "merged_expectations", "run_phases", "RENAME_MIGRATION", "setup_users",
    "rename_blue", "rename_green", "fetch", "is_broken",
]


def fetch(conn, sql, params=None):
    """Run one statement on a psycopg or pymysql connection; its rows as a
    list of tuples ([] for a statement without a result)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def is_broken(conn):
    """True when conn can run no more statements (psycopg: closed or
    broken; pymysql: not open)."""
    if conn is None:
        return True
    if hasattr(conn, "broken"):
        return conn.closed or conn.broken
    return not conn.open


class Writer(threading.Thread):
    """One application version writing in a loop until stop()."""

    def __init__(self, connect, name, insert, update, owned=None,
                 insert_ratio=0.5, sleep=(0.001, 0.005), seed=None,
                 application_name=None):
        super().__init__(name="writer-" + name, daemon=True)
        self._connect = connect
        self.label = name
        self.application_name = application_name or ("app/" + name)
        self._insert = insert
        self._update = update
        self.insert_ratio = insert_ratio
        self.sleep = sleep
        self.rng = random.Random(seed if seed is not None
                                 else zlib.crc32(name.encode()))
        # id -> last value this writer wrote (or was handed at start)
        self.expected = dict(owned or {})
        self.inserted = []          # ids this writer inserted, in order
        self._ids = list(self.expected)
        self.ops = 0
        self.inserts = 0
        self.updates = 0
        self.errors = []            # (op, statement number, traceback text)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.conn = None

    # -- control ---------------------------------------------------------

    def stop(self):
        self._halt.set()

    def snapshot(self):
        """A copy of (expected, inserted ids) that is safe to read while running."""
        with self._lock:
            return dict(self.expected), list(self.inserted)

    # -- the loop --------------------------------------------------------

    def _open(self):
        self.conn = self._connect(autocommit=True,
                                  application_name=self.application_name)

    def _record_error(self, op):
        self.errors.append((op, self.ops, traceback.format_exc()))
        # A broken connection is replaced so later statements are still
        # exercised (and their errors still counted); the failure stands.
        try:
            if is_broken(self.conn):
                self._open()
        except Exception:  # noqa: BLE001 - recorded, the loop goes on
            self.errors.append(("reconnect", self.ops, traceback.format_exc()))
            time.sleep(0.05)

    def run(self):
        try:
            self._open()
        except Exception:  # noqa: BLE001
            self.errors.append(("connect", 0, traceback.format_exc()))
            return
        i = 0
        try:
            while not self._halt.is_set():
                do_insert = (not self._ids
                             or self.rng.random() < self.insert_ratio)
                if do_insert:
                    i += 1
                    try:
                        row_id, value = self._insert(self.conn, i)
                    except Exception:  # noqa: BLE001 - an error is a failure
                        self._record_error("insert")
                    else:
                        with self._lock:
                            self.expected[row_id] = value
                            self.inserted.append(row_id)
                            self._ids.append(row_id)
                        self.inserts += 1
                elif self._ids:
                    row_id = self.rng.choice(self._ids)
                    try:
                        value = self._update(self.conn, self.rng, row_id,
                                             self.expected[row_id])
                    except Exception:  # noqa: BLE001
                        self._record_error("update")
                    else:
                        with self._lock:
                            self.expected[row_id] = value
                        self.updates += 1
                self.ops += 1
                if len(self.errors) > 200:      # enough to diagnose
                    break
                lo, hi = self.sleep
                time.sleep(self.rng.uniform(lo, hi))
        finally:
            try:
                if self.conn is not None:
                    self.conn.close()
            except Exception:  # noqa: BLE001
                pass

    def report(self):
        lines = ["writer %s: %d ops (%d inserts, %d updates), %d errors"
                 % (self.label, self.ops, self.inserts, self.updates,
                    len(self.errors))]
        seen = set()
        for op, n, tb in self.errors:
            last = tb.strip().splitlines()[-1]
            key = (op, last)
            if key in seen:
                continue
            seen.add(key)
            lines.append("--- %s #%d ---\n%s" % (op, n, tb))
            if len(seen) >= 5:
                break
        return "\n".join(lines)


def wait_for_ops(writer, n=20, timeout=10.0):
    """Block until the writer has done at least n more operations."""
    target = writer.ops + n
    deadline = time.monotonic() + timeout
    while writer.ops < target:
        if not writer.is_alive():
            raise AssertionError("writer %s died\n%s"
                                 % (writer.label, writer.report()))
        if time.monotonic() > deadline:
            raise AssertionError("writer %s made no progress (%d ops)\n%s"
                                 % (writer.label, writer.ops, writer.report()))
        time.sleep(0.005)


class Running:
    """Writers started together; finish() stops and joins them and asserts
    that none of them failed. Used as a context manager, finish() runs on
    exit (once: a scenario may finish a group early, e.g. blue before
    contract, inside a longer block)."""

    def __init__(self, writers, min_ops=10):
        self.writers = writers
        self.min_ops = min_ops
        self.finished = False
        for w in writers:
            w.start()
        for w in writers:
            wait_for_ops(w, 1)

    def _stop_join(self):
        for w in self.writers:
            w.stop()
        for w in self.writers:
            w.join(30)

    def finish(self):
        if self.finished:
            return
        self.finished = True
        self._stop_join()
        problems = []
        for w in self.writers:
            print(w.report().splitlines()[0])
            if w.is_alive():
                problems.append("writer %s did not stop" % w.label)
            if w.errors:
                problems.append(w.report())
            elif w.ops < self.min_ops:
                problems.append("writer %s did only %d ops" % (w.label, w.ops))
        if problems:
            msg = "\n".join(problems)
            print(msg)
            raise AssertionError(msg)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
            return False
        # The block failed: still stop the threads, and show what the
        # writers saw, which often explains the failure.
        if not self.finished:
            self.finished = True
            self._stop_join()
            for w in self.writers:
                if w.errors:
                    print(w.report())
        return False


def running(*writers, min_ops=10):
    """Start writers; on exit (or finish()) stop and join them and assert
    zero errors. Each writer must have done at least ``min_ops`` operations,
    so a scenario cannot pass with writers that never got going."""
    return Running(list(writers), min_ops=min_ops)


# -- catalog checks ----------------------------------------------------------

def column_info(db, table, schema="public"):
    """{column: (data_type, is_nullable, column_default)} of a table."""
    rows = db.query(
        "SELECT column_name, data_type, is_nullable, column_default"
        "  FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s",
        (schema, table))
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def migrate_leftovers(db, table=None):
    """What the tool's window leaves in the catalog: our triggers, trigger
    functions and marker columns (all tables, or one)."""
    out = []
    trig = db.query(
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
        " WHERE NOT tgisinternal AND tgname LIKE 'zz\\_migrate\\_%%'")
    out += ["trigger %s on %s" % (t[1], t[0]) for t in trig]
    funcs = db.query(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        "  JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.proname LIKE '\\_migrate\\_%%'"
        "   AND n.nspname NOT IN ('pg_catalog', 'information_schema')")
    out += ["function %s" % f[0] for f in funcs]
    sql = ("SELECT table_name, column_name FROM information_schema.columns"
           " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
           "   AND column_name LIKE '\\_migrate\\_%%'")
    params = None
    if table is not None:
        sql += " AND table_name = %s"
        params = (table,)
    out += ["marker column %s.%s" % (r[0], r[1]) for r in db.query(sql, params)]
    return out


def assert_no_leftovers(db, table=None):
    left = migrate_leftovers(db, table)
    assert not left, "left behind after contract: %s" % ", ".join(left)


def assert_rows(actual, expected, what="value"):
    """actual, expected: {id: value}. Same ids (nothing lost, nothing
    extra) and the same value for each."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(k for k in expected if k in actual and actual[k] != expected[k])
    msgs = []
    if missing:
        msgs.append("%d rows lost, e.g. ids %s" % (len(missing), missing[:10]))
    if extra:
        msgs.append("%d unexpected rows, e.g. ids %s" % (len(extra), extra[:10]))
    if wrong:
        msgs.append("%d rows with a wrong %s, e.g. %s" % (
            len(wrong), what,
            ", ".join("id %s: got %r, last written %r"
                      % (k, actual[k], expected[k]) for k in wrong[:10])))
    assert not msgs, "; ".join(msgs)


def merged_expectations(*writers):
    """The last value written to each row, over writers that own disjoint
    rows."""
    out = {}
    for w in writers:
        exp, _ = w.snapshot()
        overlap = set(out) & set(exp)
        assert not overlap, "writers share rows %s" % sorted(overlap)[:10]
        out.update(exp)
    return out


def _noop():
    pass


def run_phases(project, mid, blue, green, batch_size=50, pause_ops=15,
               expanded=_noop, backfilled=_noop, switched=_noop,
               blue_stopped=_noop, contracted=_noop):
    """The whole window for migration ``mid`` under traffic.

    blue (old names) writes from before expand until after switch-reads;
    green (new names) from after expand through contract. The callables
    check the database after each phase while the writers still run
    (``contracted`` runs while green is still writing); ``blue_stopped``
    runs between switch-reads and contract, once blue has stopped. After
    each command, ``status --json`` must show the phase it reached. Returns when both
    writers have stopped without an error."""
    def phase(command, state, *args):
        project.ok(command, mid, *args)
        got = project.phases().get(int(mid))
        assert got == state, "after %s, status --json says %r, not %r" % (
            command, got, state)

    mid = str(mid)
    with running(blue) as blue_run:
        wait_for_ops(blue, pause_ops)
        phase("expand", "expanded")
        wait_for_ops(blue, pause_ops)
        expanded()
        with running(green):
            wait_for_ops(green, pause_ops)
            phase("backfill", "backfilled", "--batch-size", str(batch_size))
            wait_for_ops(blue, pause_ops)
            wait_for_ops(green, pause_ops)
            backfilled()
            phase("switch-reads", "switched")
            wait_for_ops(blue, pause_ops)
            wait_for_ops(green, pause_ops)
            switched()
            blue_run.finish()      # blue is retired before contract
            blue_stopped()
            phase("contract", "contracted")
            wait_for_ops(green, pause_ops)
            contracted()


# -- the rename example: users.user_name -> users.username -------------------
# (shared by the rename, rollback, dependents and fault scenarios)

RENAME_MIGRATION = """
description: Rename users.user_name to users.username
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
"""


def setup_users(db, n):
    """users(id, user_name NOT NULL, email) with n rows; {id: user_name}.
    The same table on both servers: MariaDB has no generate_series, its
    sequence engine's seq_1_to_<n> numbers the rows."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT"
                   " PRIMARY KEY, user_name varchar(100) NOT NULL,"
                   " email varchar(100))")
        db.execute("INSERT INTO users (user_name, email)"
                   " SELECT CONCAT('seed-', seq), CONCAT('seed-', seq, '@example.com')"
                   "   FROM seq_1_to_%d" % n)
    else:
        db.execute("CREATE TABLE users (id bigserial PRIMARY KEY,"
                   " user_name text NOT NULL, email text)")
        db.execute("INSERT INTO users (user_name, email)"
                   " SELECT 'seed-' || g, 'seed-' || g || '@example.com'"
                   "   FROM generate_series(1, %d) g" % n)
    return dict(db.query("SELECT id, user_name FROM users"))


# -- the rename's writers: one column name each --------------------------------
# INSERT ... RETURNING works on both servers (MariaDB 10.5+); UPDATE ...
# RETURNING is PostgreSQL's only, so on MariaDB the update is read back by
# a SELECT on the same connection (the writer owns the row: nobody else
# changes it in between).

def _insert(conn, column, name):
    rows = fetch(conn, "INSERT INTO users (%s, email) VALUES (%%s, %%s)"
                       " RETURNING id, %s" % (column, column),
                 (name, name + "@example.com"))
    assert rows[0][1] == name, rows
    return rows[0][0], name


def _update(conn, column, name, row_id):
    if hasattr(conn, "broken"):     # psycopg: PostgreSQL
        row = fetch(conn, "UPDATE users SET %s = %%s WHERE id = %%s"
                          " RETURNING %s" % (column, column), (name, row_id))
    else:
        fetch(conn, "UPDATE users SET %s = %%s WHERE id = %%s" % column,
              (name, row_id))
        row = fetch(conn, "SELECT %s FROM users WHERE id = %%s" % column, (row_id,))
    assert row == [(name,)], row
    return name


def _read(conn, column, row_id):
    return fetch(conn, "SELECT %s FROM users WHERE id = %%s" % column, (row_id,))


# -- blue: old names only ------------------------------------------------------

def rename_blue_insert(conn, i):
    return _insert(conn, "user_name", "blue-%d" % i)


def rename_blue_update(conn, rng, row_id, last):
    seen = _read(conn, "user_name", row_id)
    assert seen == [(last,)], "blue reads back %r, wrote %r" % (seen, last)
    return _update(conn, "user_name", "blue-u%d" % rng.randrange(10 ** 9), row_id)


# -- green: new names only -----------------------------------------------------

def rename_green_insert(conn, i):
    return _insert(conn, "username", "green-%d" % i)


def rename_green_update(conn, rng, row_id, last):
    # green reads back only rows it wrote itself: those are complete on the
    # new side even before switch-reads
    seen = _read(conn, "username", row_id)
    assert seen == [(last,)], "green reads back %r, wrote %r" % (seen, last)
    return _update(conn, "username", "green-u%d" % rng.randrange(10 ** 9), row_id)


def rename_blue(db, seeded):
    """Blue for the rename: owns the seeded rows too."""
    return Writer(db.connect, "blue", rename_blue_insert, rename_blue_update,
                  owned=seeded)


def rename_green(db):
    return Writer(db.connect, "green", rename_green_insert, rename_green_update)
