"""The backfill engine: adaptive batches, throttles, signals, parallel parts.

Every scenario copies a type change (items.n integer -> items.n_big bigint,
up = n * 2 + 1) over a table of 20k-100k rows made with generate_series, so
every row's right value is known in SQL: n = id % 1000, n_big = 2n + 1,
label = 'v' || id. A row copied twice, skipped, or written with the wrong
value shows there; the engine's own counters (status --json) must agree.

- adaptive sizing: batches grow past the start size, and a slow batch
  (an application trigger that takes 1.5 s) cuts the next batches (--json
  lines);
- --batch-size N: every batch copies N rows (a key span of N for an
  integer key), the first one too, and over a composite key;
- --pause-file pauses between batches and resumes when the file goes;
- SIGTERM: the current batch finishes, exit 3 "resumable from key K", the
  checkpoint in status, a rerun finishes without copying a row twice;
  the last --json line of a stopped backfill does not say done;
- --jobs N: parts with their own checkpoints, disjoint ranges; kill -9
  mid-run and reruns with other --jobs values (fewer parts left than jobs:
  the largest is split);
- a row locked by the application is never waited for: the backfill passes
  over it again until it can copy it (test_backfill_no_wait.py has the
  rest, on both databases); SIGTERM meanwhile exits at once;
- --max-lag (MIGRATE_TEST_LAG_MS), fail closed when the lag is unknown;
- --max-load counts the application's active sessions, not migrate's,
  also those of other roles (whose state this role cannot see);
- bad values of the new options are usage errors (exit 2);
- non-integer keys: batch bounds and --jobs split by sampling, the parts
  in key order even where the key sorts differently as text;
- backfill --verify reports rows that disagree (count and sample keys).
"""

import json
import re
import signal
import threading
import time

from conftest import Watch, assert_verifies, backfill_status, progress

FILE = "0001_alter_n.yaml"
ALTER = """
description: n becomes a bigint
operations:
  - alter_column:
      table: items
      column: n
      to: n_big
      type: bigint
      up: "n::bigint * 2 + 1"
      down: "((n_big - 1) / 2)::integer"
"""
MARKER = "_migrate_1"
KILLED = (-9, 137)

# for the tables with other keys: a rename, title = label
RENAME = """
operations:
  - rename_column:
      table: {table}
      from: label
      to: title
"""


# --------------------------------------------------------------------------
# helpers


def make_items(db, n):
    db.execute("CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL,"
               " label text)")
    db.execute("INSERT INTO items SELECT g, g %% 1000, 'v' || g"
               " FROM generate_series(1, %d) g" % n)
    db.execute("ANALYZE items")


def expanded(project, n):
    make_items(project.db, n)
    project.write(FILE, ALTER)
    project.ok("expand")
    assert copied(project.db) == 0
    return project


def copied(db):
    return db.query("SELECT count(*) FROM items WHERE %s <> 0" % MARKER)[0][0]


def assert_all_copied(db, n):
    """Every row copied once by the backfill, with the right value, and no
    row of the old side touched."""
    assert db.query("SELECT count(*) FROM items") == [(n,)]
    bad = db.query(
        "SELECT id, n, n_big, label, %s FROM items"
        " WHERE n IS DISTINCT FROM (id %% 1000)::integer"
        "    OR n_big IS DISTINCT FROM (id %% 1000) * 2 + 1"
        "    OR label IS DISTINCT FROM 'v' || id"
        "    OR %s <> 1"
        " ORDER BY id LIMIT 10" % (MARKER, MARKER))
    assert bad == [], "rows not (or wrongly) copied: %r" % bad


def assert_renamed(db, table, extra=""):
    """Every row of a RENAME table has title = label and marker 1."""
    assert db.query("SELECT count(*) FROM %s WHERE title IS DISTINCT FROM label"
                    " OR _migrate_1 <> 1%s" % (table, extra)) == [(0,)]


def int_key(k):
    return None if k is None else int(k[0])


def composite_key(k):
    return None if k is None else (k[0], int(k[1]))


class RowLock(threading.Thread):
    """An application transaction holding a row lock on items.id = key
    (SELECT ... FOR UPDATE: it writes nothing, so the backfill must copy the
    row itself) until the test calls let_go(), or `hold` seconds at most.
    Meanwhile it watches for migrate's backfill waiting for it: `waited_ms`,
    the longest such wait seen (a batch may try its range for a moment,
    lock_timeout 1 ms, before it takes the rows it can lock one by one; it
    never waits for the row)."""

    def __init__(self, db, key, hold=60):
        super().__init__(daemon=True)
        self.db = db
        self.hold = hold
        self.waited_ms = 0.0
        self.error = None
        self._released = threading.Event()
        self.conn = db.connect(autocommit=False, application_name="app/locker")
        self.conn.execute("SELECT id FROM items WHERE id = %s FOR UPDATE", (key,))
        self.pid = self.conn.info.backend_pid
        self.watcher = db.admin()

    def run(self):
        try:
            deadline = time.monotonic() + self.hold
            while time.monotonic() < deadline and not self._released.is_set():
                ms = self.watcher.execute(
                    "SELECT max(extract(epoch FROM clock_timestamp() - l.waitstart))"
                    "       * 1000"
                    "  FROM pg_stat_activity a JOIN pg_locks l"
                    "    ON l.pid = a.pid AND NOT l.granted"
                    " WHERE a.application_name = 'migrate/backfill'"
                    "   AND %s = ANY (pg_blocking_pids(a.pid))",
                    (self.pid,)).fetchone()[0]
                self.waited_ms = max(self.waited_ms, float(ms or 0))
                self._released.wait(0.01)
        except Exception as e:      # reported by the test
            self.error = e
        finally:
            self.conn.rollback()
            self.conn.close()

    def let_go(self):
        """End the hold now."""
        self._released.set()


HELD = "held by other transactions"


def slow_batch_at(db, key, seconds):
    """An application's BEFORE UPDATE trigger that takes `seconds` when row
    `key` is written: the batch that copies it is that much slower."""
    db.execute("""
        CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = %d THEN PERFORM pg_sleep(%s); END IF;
            RETURN NEW;
        END $$""" % (key, seconds))
    db.execute("CREATE TRIGGER slow_row BEFORE UPDATE ON items"
               " FOR EACH ROW EXECUTE FUNCTION slow_row()")


def sessions_sleeping(db, n, seconds):
    """n application sessions each running one pg_sleep(seconds)."""
    conns = [db.connect(application_name="app/busy-%d" % i) for i in range(n)]
    threads = [threading.Thread(target=c.execute, args=("SELECT pg_sleep(%s)" % seconds,),
                                daemon=True) for c in conns]
    for t in threads:
        t.start()
    return threads


def assert_disjoint(checkpoints, key=int_key):
    """The parts' key ranges (last_key, upto_key] do not overlap, and each
    part still to do has a non-empty range."""
    ranges = []
    for c in checkpoints:
        hi = key(c["upto_key"])
        lo = key(c["last_key"]) if c["last_key"] is not None else None
        assert hi is not None, c
        if not c["done"]:
            assert lo is None or lo < hi, "empty or inverted part %r" % c
        ranges.append((lo, hi, c))
    ranges.sort(key=lambda r: r[1])
    for (lo1, hi1, c1), (lo2, hi2, c2) in zip(ranges, ranges[1:]):
        assert hi1 < hi2, "two parts end at the same key: %r %r" % (c1, c2)
        assert lo2 is not None and lo2 >= hi1, \
            "parts overlap: %r and %r" % (c1, c2)


# --------------------------------------------------------------------------
# 1. adaptive batch size


def test_adaptive_batches_grow_and_shrink_after_a_slow_batch(project):
    """A batch slowed down (here by an application trigger that takes 1.5 s
    on one row: a row lock no longer slows a batch, it is passed over) cuts
    the next batches."""
    n, slow = 100000, 50000
    p = expanded(project, n)
    slow_batch_at(p.db, slow, 1.5)
    t0 = time.monotonic()
    r = p.run("backfill", "--json", "--target-batch-ms", "50", "--sleep", "300")
    assert r.rc == 0, r.describe()
    assert time.monotonic() - t0 >= 1.5, "no batch was slowed\n" + r.describe()
    lines = progress(r.err)
    assert lines and lines[-1]["done"] is True, r.describe()
    assert lines[-1]["rows_done"] == n and lines[-1]["throttle"] is None, lines[-1]
    assert all(j["workers"] == 1 for j in lines), lines
    # the slow batch is the first one past the slow key (batches go in key
    # order): it took >= 1.5 s, so its line is shown
    slow_at = next(i for i, j in enumerate(lines) if j["rows_done"] >= slow)
    before, after = lines[:slow_at + 1], lines[slow_at + 1:]
    assert lines[0]["batch_size"] == 1000, lines[0]      # the start size
    grown = max(j["batch_size"] for j in before)
    assert grown > 1000, "batches never grew: %r" % before
    assert after, "no progress line after the slow batch: %r" % lines
    assert min(j["batch_size"] for j in after) < lines[slow_at]["batch_size"], \
        "no smaller batch after the slow one: %r" % lines
    assert all(100 <= j["batch_size"] <= 200000 for j in lines), lines
    assert_all_copied(p.db, n)
    assert backfill_status(p)["rows_done"] == n
    assert_verifies(p)


def test_fixed_batch_size_is_exact_from_the_first_batch(project):
    """--batch-size N: the first batch (no checkpoint yet, bound found by
    reading keys) copies N rows, and every batch after it a key span of N."""
    n = 20000
    p = expanded(project, n)
    r = p.run("backfill", "--batch-size", "1000", "--json", fault="backfill:1:1")
    assert r.rc in KILLED, r.describe()
    assert copied(p.db) == 1000, \
        "the first batch of --batch-size 1000 copied %d rows" % copied(p.db)
    assert p.db.query("SELECT max(id) FROM items WHERE %s <> 0" % MARKER) == [(1000,)]
    cp = backfill_status(p)["checkpoints"]
    assert len(cp) == 1 and cp[0]["last_key"] == ["1000"], cp
    assert cp[0]["rows_done"] == 1000, cp
    # resumed: three more batches, key spans of 1000 from the checkpoint
    r = p.run("backfill", "--batch-size", "1000", "--json", fault="backfill:1:3")
    assert r.rc in KILLED, r.describe()
    assert p.db.query("SELECT count(*), max(id) FROM items WHERE %s <> 0" % MARKER) \
        == [(4000, 4000)]
    p.ok("backfill", "--batch-size", "1000")
    assert_all_copied(p.db, n)


def test_fixed_batch_size_composite_key(project):
    """The same over a (text, integer) key: every batch is N rows."""
    p = project
    p.db.execute("""
        CREATE TABLE events (region text, seq integer, label text NOT NULL,
                             PRIMARY KEY (region, seq));
        INSERT INTO events SELECT 'eu', g, 'eu/' || g FROM generate_series(1, 20000) g;
        ANALYZE events;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="events"))
    p.ok("expand")
    r = p.run("backfill", "--batch-size", "1000", fault="backfill:1:2")
    assert r.rc in KILLED, r.describe()
    assert p.db.query("SELECT count(*), max(seq) FROM events WHERE _migrate_1 <> 0") \
        == [(2000, 2000)]
    cp = backfill_status(p)["checkpoints"]
    assert cp[0]["last_key"] == ["eu", "2000"] and cp[0]["rows_done"] == 2000, cp
    p.ok("backfill", "--batch-size", "1000")
    assert_renamed(p.db, "events")


# --------------------------------------------------------------------------
# 2. pause file


def test_pause_file_pauses_and_resumes(project, tmp_path):
    n = 20000
    p = expanded(project, n)
    pause = tmp_path / "pause-backfill"
    w = Watch(p.popen("backfill", "--json", "--batch-size", "500", "--sleep", "100",
                      "--pause-file", pause))
    try:
        # running; then the operator creates the file
        w.wait_for(lambda: w.line_where(lambda j: j["rows_done"] > 0), "progress")
        pause.write_text("")
        paused = w.wait_for(lambda: w.line_where(
            lambda j: (j["throttle"] or "").startswith("paused: pause file")),
            "a paused progress line")
        assert str(pause) in paused["throttle"], paused
        assert paused["done"] is False, paused
        held = copied(p.db)
        assert 0 < held < n, held
        time.sleep(2.5)          # paused: nothing moves
        assert copied(p.db) == held
        assert w.p.poll() is None, w.err
        lines = [j for j in w.progress() if (j["throttle"] or "").startswith("paused")]
        assert len(lines) >= 2, lines          # still telling, about every second
        assert {j["rows_done"] for j in lines} == {held}, lines
        pause.unlink()
        rc = w.finish()
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 0, w.err
    final = w.progress()[-1]
    assert final["done"] is True and final["rows_done"] == n, final
    assert final["throttle"] is None, final
    assert_all_copied(p.db, n)
    assert_verifies(p)


# --------------------------------------------------------------------------
# 3. SIGTERM, then a rerun


def test_sigterm_checkpoints_then_rerun_finishes(project):
    n = 100000
    p = expanded(project, n)
    w = Watch(p.popen("backfill", "--batch-size", "500", "--sleep", "20"))
    try:
        w.wait_for(lambda: copied(p.db) >= 5000, "5000 rows copied")
        w.p.send_signal(signal.SIGTERM)
        rc = w.finish()
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    m = re.search(r"stopped by signal after (\d+) rows: resumable from key \[\"(\d+)\"\]", w.err)
    assert m, w.err
    rows, key = int(m.group(1)), int(m.group(2))
    done = copied(p.db)
    # the batch running when the signal came finished and was checkpointed:
    # exactly the rows up to the key are copied, none after it
    assert rows == done and 5000 <= done < n, (rows, done)
    assert p.db.query("SELECT count(*), max(id) FROM items WHERE %s <> 0" % MARKER) \
        == [(done, key)]
    st = backfill_status(p)
    assert st["done"] is False and st["rows_done"] == done, st
    assert st["tables"] == 1 and len(st["checkpoints"]) == 1, st
    cp = st["checkpoints"][0]
    assert cp["last_key"] == [str(key)] and cp["upto_key"] == [str(n)], cp
    assert cp["rows_done"] == done and cp["done"] is False, cp
    assert p.phases() == {1: "expanded"}

    r = p.ok("backfill")
    assert "resuming" in r.err, r.describe()
    assert p.phases() == {1: "backfilled"}
    st = backfill_status(p)
    # each row counted once: the rerun copied exactly the rows left
    assert st["done"] is True and st["rows_done"] == n, st
    assert_all_copied(p.db, n)
    assert_verifies(p)


def test_stopped_backfill_is_not_reported_done(project):
    """After SIGTERM the last --json progress line says the backfill is not
    done (rows_done < total), like the exit status and the checkpoint."""
    n = 100000
    p = expanded(project, n)
    w = Watch(p.popen("backfill", "--json", "--batch-size", "500", "--sleep", "20"))
    try:
        w.wait_for(lambda: copied(p.db) >= 5000, "5000 rows copied")
        w.p.send_signal(signal.SIGTERM)
        rc = w.finish()
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert backfill_status(p)["done"] is False
    last = w.progress()[-1]
    assert last["rows_done"] < last["total"], last
    assert last["done"] is False, \
        "a backfill stopped by a signal is reported done: %r" % last


# --------------------------------------------------------------------------
# 4. --jobs, kill -9, reruns with other --jobs


def test_jobs_kill9_and_reruns_with_other_jobs(project):
    n = 60000
    p = expanded(project, n)
    r = p.run("backfill", "--jobs", "3", "--batch-size", "1000", "--json",
              fault="backfill:1:6")
    assert r.rc in KILLED, r.describe()
    assert any(j["workers"] == 3 for j in progress(r.err)), r.describe()
    st = backfill_status(p)
    cps = st["checkpoints"]
    assert st["tables"] == 1 and len(cps) == 3, st
    assert sorted(c["part"] for c in cps) == [0, 1, 2], cps
    assert_disjoint(cps)
    assert max(int_key(c["upto_key"]) for c in cps) == n, cps
    assert sum(c["rows_done"] for c in cps) >= 6000, cps
    # batches of other workers may have committed after the last
    # checkpoint: the table has at least what the checkpoints say
    assert copied(p.db) >= sum(c["rows_done"] for c in cps)
    assert copied(p.db) < n
    for c in cps:
        # a part's rows_done are rows of its own range
        lo = int_key(c["last_key"])
        assert lo is None or p.db.query(
            "SELECT count(*) FROM items WHERE id <= %d AND %s <> 0" % (lo, MARKER)
        )[0][0] >= c["rows_done"], c

    # more jobs than parts left: the largest part is split
    r = p.run("backfill", "--jobs", "4", "--batch-size", "1000", "--json",
              fault="backfill:1:5")
    assert r.rc in KILLED, r.describe()
    assert any(j["workers"] == 4 for j in progress(r.err)), r.describe()
    st = backfill_status(p)
    cps = st["checkpoints"]
    assert st["tables"] == 1 and sorted(c["part"] for c in cps) == [0, 1, 2, 3], cps
    assert_disjoint(cps)

    # fewer jobs than parts: no split, the parts are shared out; SIGTERM:
    # both workers finish their batch and checkpoint it
    db_before = copied(p.db)
    cp_before = sum(c["rows_done"] for c in cps)
    w = Watch(p.popen("backfill", "--jobs", "2", "--batch-size", "1000", "--json",
                      "--sleep", "100"))
    try:
        w.wait_for(lambda: copied(p.db) >= db_before + 4000, "4000 more rows")
        w.p.send_signal(signal.SIGTERM)
        rc = w.finish()
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert "stopped by signal" in w.err and "resumable from key" in w.err, w.err
    assert re.search(r"\(part \d\)", w.err), w.err
    assert any(j["workers"] == 2 for j in w.progress()), w.err
    st = backfill_status(p)
    assert len(st["checkpoints"]) == 4 and st["done"] is False, st
    assert_disjoint(st["checkpoints"])
    # every batch that committed was checkpointed
    assert sum(c["rows_done"] for c in st["checkpoints"]) - cp_before \
        == copied(p.db) - db_before
    assert copied(p.db) < n

    r = p.ok("backfill", "--jobs", "1", "--json")
    final = progress(r.err)[-1]
    assert final["done"] is True and final["workers"] == 1, final
    st = backfill_status(p)
    assert st["done"] is True and all(c["done"] for c in st["checkpoints"]), st
    assert len(st["checkpoints"]) == 4, st
    assert_all_copied(p.db, n)
    assert_verifies(p)


# --------------------------------------------------------------------------
# 5. a row locked by the application


def test_locked_row_is_passed_over_then_copied(project):
    """A row the application holds (FOR UPDATE: it writes nothing) is never
    waited for: the main pass copies every other row, the backfill passes
    over the held row's range again (saying why) until the holder lets go,
    then copies it; every row is counted once."""
    n, locked = 20000, 12345
    p = expanded(project, n)
    lock = RowLock(p.db, locked)
    lock.start()
    w = Watch(p.popen("backfill", "--batch-size", "1000"))
    try:
        w.wait_for(lambda: HELD in w.err, "the backfill saying rows are " + HELD)
        assert copied(p.db) == n - 1
        time.sleep(1)
        assert w.p.poll() is None, "the backfill ended with a row held\n" + w.err
        assert copied(p.db) == n - 1
        lock.let_go()
        rc = w.finish()
    finally:
        if w.p.poll() is None:
            w.p.kill()
    lock.join(10)
    assert lock.error is None, lock.error
    assert lock.waited_ms < 100, \
        "the backfill waited %.0f ms for the locked row\n%s" % (lock.waited_ms, w.err)
    assert rc == 0, w.err
    assert "are locked by another transaction: waiting" not in w.err, w.err
    assert p.db.query("SELECT n_big, %s FROM items WHERE id = %%s" % MARKER, (locked,)) \
        == [((locked % 1000) * 2 + 1, 1)]
    assert_all_copied(p.db, n)
    assert backfill_status(p)["rows_done"] == n
    assert_verifies(p)


def test_sigterm_while_a_held_row_is_passed_over(project):
    """A stop asked for while the backfill passes over a row the application
    holds exits at once (no wait to sit out): exit 3, the rows copied so far
    committed, the application's lock never broken, and a rerun copies the
    row, counting each row once."""
    n, locked = 20000, 5500
    p = expanded(project, n)
    lock = RowLock(p.db, locked)
    lock.start()
    w = Watch(p.popen("backfill", "--batch-size", "1000"))
    try:
        w.wait_for(lambda: HELD in w.err, "the backfill saying rows are " + HELD)
        t0 = time.monotonic()
        w.p.send_signal(signal.SIGTERM)
        rc = w.finish(timeout=20)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 3, "SIGTERM took %.1f s while a row was held" % took
    assert "stopped by signal" in w.err, w.err
    assert copied(p.db) == n - 1
    assert lock.is_alive()              # the application's lock was never broken
    assert lock.waited_ms < 100, (lock.waited_ms, w.err)
    st = backfill_status(p)
    assert st["done"] is False and st["rows_done"] == n - 1, st
    assert p.phases() == {1: "expanded"}
    lock.let_go()
    lock.join(10)
    r = p.ok("backfill", "--json")
    assert_all_copied(p.db, n)
    st = backfill_status(p)
    # the rerun's sweep copied the held row: counted once, as every row
    assert st["done"] is True and st["rows_done"] == n, (st, r.err)
    assert_verifies(p)


# --------------------------------------------------------------------------
# 6. replication lag


def paused_then_terminated(project, env, args, expect):
    w = Watch(project.popen("backfill", "--json", *args, env=env))
    try:
        line = w.wait_for(lambda: w.line_where(
            lambda j: (j["throttle"] or "").startswith("paused")), "a paused line")
        assert expect in line["throttle"], line
        time.sleep(1.2)
        assert w.p.poll() is None, w.err
        w.p.send_signal(signal.SIGTERM)
        rc = w.finish()
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert "stopped by signal" in w.err and "resumable from key" in w.err, w.err
    lines = w.progress()
    assert all((j["throttle"] or "").startswith("paused") for j in lines[:-1]), w.err
    assert len({j["rows_done"] for j in lines}) == 1, lines     # nothing copied
    return w


def test_max_lag_pauses_and_fails_closed(project):
    n = 20000
    p = expanded(project, n)
    # without --max-lag the lag is never looked at
    r = p.run("backfill", "--json", "--batch-size", "1000",
              env={"MIGRATE_TEST_LAG_MS": "5000"}, fault="backfill:1:3")
    assert r.rc in KILLED, r.describe()
    assert "paused" not in r.err, r.describe()
    done = copied(p.db)
    assert 3000 <= done < n, done

    # lag over the limit: paused before the next batch
    paused_then_terminated(p, {"MIGRATE_TEST_LAG_MS": "5000"},
                           ["--max-lag", "1000", "--batch-size", "1000"],
                           "paused: replication lag 5000 ms > --max-lag 1000 ms")
    assert copied(p.db) == done
    # a lag that cannot be read: paused too (fail closed)
    w = paused_then_terminated(p, {"MIGRATE_TEST_LAG_MS": "unknown"},
                               ["--max-lag", "1000", "--batch-size", "1000"],
                               "paused: replication lag cannot be read")
    assert "--max-lag is set" in w.err, w.err
    assert copied(p.db) == done
    # a lag under the limit: goes on
    r = p.run("backfill", "--json", "--max-lag", "1000", "--batch-size", "1000",
              env={"MIGRATE_TEST_LAG_MS": "200"}, fault="backfill:1:2")
    assert r.rc in KILLED and "paused" not in r.err, r.describe()
    assert copied(p.db) == done + 2000
    # the real server (no standby): lag 0, finishes
    r = p.ok("backfill", "--json", "--max-lag", "1000")
    assert "paused" not in r.err, r.describe()
    assert progress(r.err)[-1]["done"] is True
    assert_all_copied(p.db, n)
    assert_verifies(p)


# --------------------------------------------------------------------------
# 7. server load


def test_max_load_pauses_while_sessions_are_active(project):
    n = 20000
    p = expanded(project, n)
    busy = sessions_sleeping(p.db, 3, 3)
    deadline = time.monotonic() + 10
    while p.db.query("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                     " AND application_name LIKE 'app/busy-%'")[0][0] < 3:
        assert time.monotonic() < deadline, "the busy sessions did not start"
        time.sleep(0.02)
    r = p.run("backfill", "--max-load", "1", "--json", "--jobs", "2")
    for t in busy:
        t.join(10)
    assert r.rc == 0, r.describe()
    lines = progress(r.err)
    paused = [j for j in lines if j["throttle"]]
    assert paused, r.describe()
    m = re.fullmatch(r"paused: (\d+) active sessions > --max-load 1", paused[0]["throttle"])
    assert m and int(m.group(1)) >= 3, paused[0]
    assert paused[0]["rows_done"] == 0, paused[0]
    assert lines[-1]["done"] is True and lines[-1]["throttle"] is None, lines[-1]
    assert_all_copied(p.db, n)
    assert_verifies(p)


def test_max_load_counts_sessions_of_other_roles(project):
    """Sessions of another role (here the superuser) are sessions of the
    database too: pg_stat_activity hides their state from migrate's role,
    which must not read as "idle" (fail closed, as for --max-lag)."""
    n = 20000
    p = expanded(project, n)
    started = threading.Barrier(4)

    def busy():
        with p.db.server.admin(p.db.name) as c:
            started.wait(10)
            c.execute("SELECT pg_sleep(3)")

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait(10)
    time.sleep(0.3)
    r = p.run("backfill", "--max-load", "1", "--json")
    for t in threads:
        t.join(10)
    assert r.rc == 0, r.describe()
    lines = progress(r.err)
    paused = [j for j in lines if (j["throttle"] or "").startswith("paused")]
    assert paused, "3 active sessions of another role did not pause --max-load 1\n" \
        + r.describe()
    assert paused[0]["rows_done"] == 0, paused[0]
    assert "whose state this role cannot see" in paused[0]["throttle"], paused[0]
    assert lines[-1]["done"] is True
    assert_all_copied(p.db, n)


# --------------------------------------------------------------------------
# 8. bad option values


def test_bad_option_values_are_usage_errors(project):
    p = expanded(project, 20000)
    for args, word in ((["--batch-size", "0"], "--batch-size"),
                       (["--jobs", "0"], "--jobs"),
                       (["--jobs", "65"], "--jobs"),
                       (["--target-batch-ms", "5"], "--target-batch-ms"),
                       (["--batch-size", "-5"], "--batch-size"),
                       (["--max-lag", "soon"], "--max-lag")):
        r = p.expect(2, "backfill", *args)
        assert word in r.err, r.describe()
    assert copied(p.db) == 0
    assert p.phases() == {1: "expanded"}
    st = backfill_status(p)
    assert st is None or (st["rows_done"] == 0 and not st["checkpoints"]), st
    # the smallest accepted values work
    r = p.run("backfill", "--batch-size", "1", "--target-batch-ms", "10",
              fault="backfill:1:2")
    assert r.rc in KILLED and copied(p.db) == 2, r.describe()


# --------------------------------------------------------------------------
# 9. non-integer keys: bounds and splits by sampling


def test_composite_key_with_jobs(project):
    p = project
    p.db.execute("""
        CREATE TABLE events (region text, seq integer, label text NOT NULL,
                             PRIMARY KEY (region, seq));
        INSERT INTO events SELECT r, g, r || '/' || g
          FROM unnest(ARRAY['ap', 'eu', 'us']) r, generate_series(1, 10000) g;
        ANALYZE events;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="events"))
    p.ok("expand")
    r = p.run("backfill", "--jobs", "2", "--batch-size", "500", "--json",
              fault="backfill:1:6")
    assert r.rc in KILLED, r.describe()
    st = backfill_status(p)
    cps = st["checkpoints"]
    assert st["tables"] == 1 and sorted(c["part"] for c in cps) == [0, 1], st
    assert_disjoint(cps, key=composite_key)
    assert max(composite_key(c["upto_key"]) for c in cps) == ("us", 10000), cps
    done = p.db.query("SELECT count(*) FROM events WHERE _migrate_1 <> 0")[0][0]
    assert 3000 <= done < 30000, done
    r = p.ok("backfill", "--jobs", "2", "--json")
    assert progress(r.err)[-1]["done"] is True
    assert_renamed(p.db, "events", " OR label <> region || '/' || seq")
    assert p.db.query("SELECT count(*) FROM events") == [(30000,)]
    r = p.ok("backfill", "--verify")
    assert "every row agrees" in r.out, r.describe()


def test_composite_key_split_in_three_is_ordered(project):
    """Three parts over a (text, integer) key whose integer part sorts
    differently as text (1000000+i < 200000+i < 30000+i as text): the
    bounds must come from the sample in key order, so the parts are ordered
    and disjoint."""
    p = project
    p.db.execute("""
        CREATE TABLE events (region text, seq integer, label text NOT NULL,
                             PRIMARY KEY (region, seq));
        INSERT INTO events SELECT 'eu', s, 'eu/' || s FROM (
            SELECT 1000000 + g AS s FROM generate_series(1, 12000) g
            UNION ALL SELECT 200000 + g FROM generate_series(1, 12000) g
            UNION ALL SELECT 30000 + g FROM generate_series(1, 6000) g) x;
        ANALYZE events;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="events"))
    p.ok("expand")
    r = p.run("backfill", "--jobs", "3", "--batch-size", "500", "--json",
              fault="backfill:1:1")
    assert r.rc in KILLED, r.describe()
    cps = backfill_status(p)["checkpoints"]
    assert len(cps) == 3, cps
    assert max(composite_key(c["upto_key"]) for c in cps) == ("eu", 1012000), cps
    assert_disjoint(cps, key=composite_key)
    p.ok("backfill", "--jobs", "3")
    assert_renamed(p.db, "events")


def test_text_key_with_jobs(project):
    p = project
    p.db.execute("""
        CREATE TABLE docs (code text PRIMARY KEY, label text);
        INSERT INTO docs SELECT md5(g::text), 'doc ' || g FROM generate_series(1, 20000) g;
        ANALYZE docs;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="docs"))
    p.ok("expand")
    r = p.run("backfill", "--jobs", "2", "--batch-size", "700", "--json",
              fault="backfill:1:4")
    assert r.rc in KILLED, r.describe()
    cps = backfill_status(p)["checkpoints"]
    assert len(cps) == 2, cps
    assert_disjoint(cps, key=lambda k: None if k is None else k[0])
    assert p.db.query("SELECT count(*) FROM docs WHERE _migrate_1 <> 0")[0][0] >= 2800
    p.ok("backfill", "--jobs", "2")
    assert_renamed(p.db, "docs")
    st = backfill_status(p)
    # a batch that committed just before the kill -9, not checkpointed, is
    # not counted again by the rerun (its rows are no longer at marker 0)
    assert st["done"] is True and 20000 - 2 * 700 <= st["rows_done"] <= 20000, st
    r = p.ok("backfill", "--verify")
    assert "every row agrees" in r.out, r.describe()


# --------------------------------------------------------------------------
# 10. verify reports mismatches


def test_verify_reports_mismatches(project):
    n = 25000          # more than one verification batch (20000 rows)
    p = expanded(project, n)
    p.ok("backfill")
    assert_verifies(p)
    with p.db.admin() as c:
        c.execute("SET session_replication_role = replica")   # no triggers
        c.execute("UPDATE items SET n_big = -1 WHERE id IN (777, 24000)")
    r = p.expect(1, "backfill", "--verify")
    assert "2 row(s) disagree" in r.out, r.describe()
    assert '"public"."items" (777)' in r.out and '"public"."items" (24000)' in r.out, \
        r.describe()
    r = p.expect(1, "backfill", "--verify", "--json")
    doc = json.loads(r.out)
    assert doc["command"] == "backfill --verify", doc
    assert doc["migration"] == {"id": 1, "name": "0001_alter_n"}, doc
    assert doc["mismatches"] == 2, doc
    assert sorted(doc["sample_keys"]) == ['"public"."items" (24000)',
                                          '"public"."items" (777)'], doc
    # verify changes nothing
    assert p.db.query("SELECT count(*) FROM items WHERE n_big = -1") == [(2,)]
    # an application write through the trigger puts them right
    p.db.execute("UPDATE items SET n_big = n * 2 + 1 WHERE id IN (777, 24000)")
    assert_verifies(p)
    assert p.db.query("SELECT count(*) FROM items WHERE n_big <> n * 2 + 1") == [(0,)]


# --------------------------------------------------------------------------
# 11. after a large backfill, autovacuum works on the table


def test_switch_reads_gets_past_a_running_autovacuum(project):
    """VALIDATE CONSTRAINT waits for autovacuum (both take SHARE UPDATE
    EXCLUSIVE), and PostgreSQL cancels an autovacuum only for a waiter that
    has waited deadlock_timeout (1 s). With --lock-timeout 200 every try
    used to give up first; switch-reads must get through, and the
    application's writes must never wait for it."""
    p = expanded(project, 20000)
    p.ok("backfill")
    with p.db.server.admin() as a:
        a.execute("ALTER SYSTEM SET autovacuum_naptime = 1")
        a.execute("SELECT pg_reload_conf()")
    try:
        # a crawling autovacuum on items (cost delay 100 ms per page)
        p.db.admin().execute(
            "ALTER TABLE items SET (autovacuum_vacuum_threshold = 0,"
            " autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100,"
            " autovacuum_vacuum_cost_limit = 1)")
        watch = p.db.admin()

        def autovacuum_pid():
            rows = watch.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                " AND query LIKE '%items%'").fetchall()
            return rows[0][0] if rows else None

        deadline = time.monotonic() + 30
        while autovacuum_pid() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = autovacuum_pid()
        assert pid is not None, "no autovacuum started on items within 30 s"
        writer = p.db.connect(application_name="app/writer")
        t0 = time.monotonic()
        writer.execute("UPDATE items SET n = n + 1 WHERE id = 7")
        assert time.monotonic() - t0 < 0.5      # autovacuum never blocks writes
        r = p.run("switch-reads", "--lock-timeout", "200", "--lock-retries", "2")
        assert r.rc == 0, r.describe()
        assert "validate constraint" in r.err, r.describe()
        p.db.admin().execute("ALTER TABLE items RESET (autovacuum_vacuum_threshold,"
                             " autovacuum_vacuum_scale_factor, autovacuum_vacuum_cost_delay,"
                             " autovacuum_vacuum_cost_limit)")
    finally:
        with p.db.server.admin() as a:
            a.execute("ALTER SYSTEM RESET autovacuum_naptime")
            a.execute("SELECT pg_reload_conf()")
    assert p.db.query("SELECT count(*) FROM items WHERE n_big IS DISTINCT FROM n::bigint * 2 + 1") \
        == [(0,)]
