"""backfill throttles that react to the application (issue 15), on
PostgreSQL and MariaDB (one test per behaviour, `target`):

- --max-lock-waits N pauses batches while more than N other sessions wait
  for a row lock (one session holds a row, two others wait for it), and
  the backfill goes on by itself when the waits end; with N at the number
  of waiters it does not pause;
- --critical-load N stops the backfill when the active sessions (what
  --max-load counts) stay over N on a second reading: exit 3, the message
  says why and where, the checkpoint is kept, the last --json line says
  why it stopped, and a rerun without the load finishes with every row
  copied (exact verify);
- a load that is gone before the second reading
  (--critical-load-interval later) does not stop it;
- bad values of the new options, on the command line and in
  migrate.yaml, are usage errors (exit 2) naming the option.

The row-lock waits are on a table of their own (hot), so the backfill's
batches on items never meet the locked row: what pauses them is the
throttle alone.
"""

import re
import threading
import time

import pytest

from conftest import Watch, backfill_status, progress
from harness.mariadb import INNODB_TRX_POLL_S, _mysql_grant_db
from harness.secrets import MYSQL_LOW_USER

N = 20000
MIGRATION = """
operations:
  - rename_column:
      table: items
      from: label
      to: title
"""


# --------------------------------------------------------------------------
# helpers


def sql(conn, text, params=None):
    """One statement on a psycopg or pymysql connection; rows or []."""
    cur = conn.cursor()
    try:
        cur.execute(text, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def expanded(target, n=N):
    """items(id, label) with n rows, the rename expanded: the backfill
    copies label into title."""
    if target.is_pg:
        target.execute("CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL)")
        target.execute("INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, %d) g" % n)
    else:
        target.execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, "
                       "label varchar(100) NOT NULL)")
        target.execute("INSERT INTO items SELECT seq, CONCAT('v', seq) FROM seq_1_to_%d" % n)
    target.execute("CREATE TABLE hot (id integer PRIMARY KEY, v integer NOT NULL)")
    target.execute("INSERT INTO hot VALUES (1, 0)")
    p = target.project
    p.write("0001_rename.yaml", MIGRATION)
    p.ok("expand")
    return p


def copied(target):
    return target.query("SELECT count(*) FROM items WHERE _migrate_1 <> 0")[0][0]


def assert_all_copied(target, p, n=N):
    assert target.query("SELECT count(*) FROM items") == [(n,)]
    assert target.query("SELECT count(*) FROM items WHERE title IS NULL OR title <> label"
                        " OR _migrate_1 = 0") == [(0,)]
    doc = p.json("backfill", "--verify", "--json")
    assert doc["mismatches"] == 0 and doc["sample_keys"] == [], doc


def throttle(j):
    return j["throttle"] or ""


class RowLockWaits:
    """One application session holding hot.id = 1 in an open transaction,
    and `waiters` others each blocked in an UPDATE of that row, until
    release(): then the holder rolls back and each waiter's UPDATE goes
    through (autocommit) and ends. other_role: the sessions are another
    role's than the one migrate connects as (PostgreSQL: the superuser's;
    MariaDB: lowpriv's, granted SELECT and UPDATE on the database)."""

    def __init__(self, target, waiters, other_role=False):
        self.target = target
        self.other_role = other_role
        self._set_up(waiters)
        try:
            self.wait_until(waiters)
        except BaseException:
            # an open transaction would hold the table (and the test's
            # DROP DATABASE) for good
            self.release()
            raise

    def _set_up(self, waiters):
        self.errors = []
        self.threads = []
        self.holder = self._connect("app/holder")
        try:
            sql(self.holder, "BEGIN")
            sql(self.holder, "SELECT v FROM hot WHERE id = 1 FOR UPDATE")
            for i in range(waiters):
                c = self._connect("app/waiter-%d" % i)
                t = threading.Thread(target=self._wait, args=(c,), daemon=True)
                t.start()
                self.threads.append(t)
        except BaseException:
            self.release()
            raise

    def _connect(self, name):
        """An autocommit session named name (application_name)."""
        t = self.target
        if not self.other_role:
            c = t.db.connect(application_name=name)
        elif t.is_pg:
            c = t.server.admin(t.db.name)
        else:
            # another user, over TCP as app's sessions are
            if not getattr(self, "_granted", False):
                t.db.admin_query("GRANT SELECT, UPDATE ON %s.* TO '%s'@'%%'"
                                 % (_mysql_grant_db(t.db.name), MYSQL_LOW_USER))
                self._granted = True
            c = t.db.connect(user=MYSQL_LOW_USER, application_name=name)
        if t.is_pg:
            sql(c, "SET application_name = '%s'" % name)
        else:
            sql(c, "SET SESSION innodb_lock_wait_timeout = 120")
        return c

    def _wait(self, conn):
        try:
            sql(conn, "UPDATE hot SET v = v + 1 WHERE id = 1")
        except Exception as e:          # reported by release()
            self.errors.append(e)
        finally:
            conn.close()

    def waiting(self):
        """Sessions waiting for a row lock now, as the server tells a
        superuser (not through migrate)."""
        if self.target.is_pg:
            with self.target.db.admin() as c:
                return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                 " current_database() AND wait_event_type = 'Lock'"
                                 " AND application_name LIKE 'app/waiter-%%'").fetchone()[0]
        return int(self.target.db.admin_query(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX"
            " WHERE trx_state = 'LOCK WAIT'")[0][0])

    def wait_until(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while (got := self.waiting()) != n:
            assert time.monotonic() < deadline, \
                "%d sessions did not come to wait (%d do); the server says:\n%s" % (
                    n, got, self.server_view())
            # MariaDB's INNODB_TRX is a cache that a read refreshes only when
            # the previous read was 0.1 s or more before: polled faster, it
            # shows the same moment for good (in CI: one waiter of two, for
            # three scenes of 20 s each)
            time.sleep(0.02 if self.target.is_pg else INNODB_TRX_POLL_S)

    def server_view(self):
        """What the sessions do, for a failure's message."""
        if self.target.is_pg:
            with self.target.db.admin() as c:
                return "\n".join(map(str, c.execute(
                    "SELECT pid, application_name, state, wait_event_type, wait_event, query "
                    "FROM pg_stat_activity WHERE datname = current_database()").fetchall()))
        rows = self.target.db.admin_query(
            "SELECT ID, USER, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST")
        trx = self.target.db.admin_query(
            "SELECT trx_mysql_thread_id, trx_state, trx_query FROM information_schema.INNODB_TRX")
        return "\n".join(map(str, rows)) + "\nINNODB_TRX:\n" + "\n".join(map(str, trx))

    def release(self):
        if self.holder is None:
            return
        sql(self.holder, "ROLLBACK")
        self.holder.close()
        self.holder = None
        for t in self.threads:
            t.join(60)
        assert not self.errors, self.errors


def busy_sessions(target, n, seconds, other_role=False):
    """n application sessions each running one statement for `seconds`
    (pg_sleep / SLEEP): active sessions for --max-load and
    --critical-load (other_role: the superuser's / root's). Returns the
    threads; waits until all n run."""
    stmt = "SELECT pg_sleep(%s)" if target.is_pg else "SELECT SLEEP(%s)"
    started = threading.Barrier(n + 1)

    def run(i):
        if other_role:
            c = target.server.admin(target.db.name)
        else:
            c = target.db.connect(application_name="app/busy-%d" % i)
        try:
            started.wait(10)
            sql(c, stmt % seconds)
        except Exception:       # the database dropped under a failed test
            pass
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    started.wait(10)
    time.sleep(0.3)         # the statements have started
    return threads


def finish(w, timeout=120):
    try:
        return w.finish(timeout)
    finally:
        if w.p.poll() is None:
            w.p.kill()


# --------------------------------------------------------------------------
# 1. --max-lock-waits


def test_max_lock_waits_pauses_while_sessions_wait_for_a_row_lock(target):
    p = expanded(target)
    waits = RowLockWaits(target, 2)
    try:
        # two sessions wait, --max-lock-waits 2: not more than N, batches go
        r = p.run("backfill", "--json", "--max-lock-waits", "2", "--batch-size", "500",
                  fault="backfill:1:3")
        assert r.rc in (-9, 137), r.describe()
        assert not [j for j in progress(r.err) if throttle(j).startswith("paused")], \
            r.describe()
        done = copied(target)
        assert done == 1500, done
        # --max-lock-waits 1: paused before its first batch, for as long as
        # they wait
        w = Watch(p.popen("backfill", "--json", "--max-lock-waits", "1",
                          "--batch-size", "500", "--sleep", "20"))
        paused = w.wait_for(lambda: w.line_where(
            lambda j: throttle(j).startswith("paused")), "a paused progress line", timeout=60)
        assert throttle(paused) == \
            "paused: 2 sessions wait for row locks > --max-lock-waits 1", paused
        assert paused["rows_done"] == done and paused["done"] is False, paused
        time.sleep(2)
        assert copied(target) == done, "batches ran while 2 sessions waited"
        assert w.p.poll() is None, w.err
        assert waits.waiting() == 2
        lines = [j for j in w.progress() if throttle(j).startswith("paused")]
        assert len(lines) >= 2, lines       # still telling, about every second
    except BaseException:
        waits.release()
        raise
    # the waits end: the backfill goes on by itself and finishes
    waits.release()
    rc = finish(w)
    assert rc == 0, w.err
    last = w.progress()[-1]
    assert last["done"] is True and last["throttle"] is None, last
    assert_all_copied(target, p)
    # the waiters got their row in the end (nothing was lost to them)
    assert target.query("SELECT v FROM hot WHERE id = 1") == [(2,)]


def test_max_lock_waits_counts_waiters_of_other_roles(target):
    """Sessions of another role (user) waiting for a row lock count: on
    PostgreSQL pg_stat_activity hides their wait from migrate's role, but
    pg_locks does not; on MariaDB the status counter is server-wide."""
    p = expanded(target)
    waits = RowLockWaits(target, 2, other_role=True)
    try:
        w = Watch(p.popen("backfill", "--json", "--max-lock-waits", "1",
                          "--batch-size", "500", "--sleep", "20"))
        paused = w.wait_for(lambda: w.line_where(
            lambda j: throttle(j).startswith("paused")), "a paused progress line", timeout=60)
        assert throttle(paused) == \
            "paused: 2 sessions wait for row locks > --max-lock-waits 1", paused
        assert paused["rows_done"] == 0 and copied(target) == 0, paused
    finally:
        waits.release()
    assert finish(w) == 0, w.err
    assert w.progress()[-1]["done"] is True, w.err
    assert_all_copied(target, p)


# --------------------------------------------------------------------------
# 2. --critical-load


def test_critical_load_stops_checkpointed_and_a_rerun_finishes(target):
    p = expanded(target)
    # 2000 rows/s: the stop (about 2 s after the load starts) comes long
    # before the end, whatever the machine's speed
    w = Watch(p.popen("backfill", "--json", "--critical-load", "2", "--batch-size", "200",
                      "--max-rows-per-sec", "2000"))
    busy = []
    try:
        w.wait_for(lambda: copied(target) >= 1000, "1000 rows copied")
        busy = busy_sessions(target, 4, 8)
        rc = finish(w, 60)
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    # the message: why (both readings, 1000 ms apart by default), where
    # (the key the checkpoint holds) and what to do
    m = re.search(r"error: backfill 0001: backfill of \S*items\S* stopped: (\d+) active "
                  r"sessions > --critical-load 2 on two readings 1000 ms apart \((\d+), "
                  r"then \1\), after (\d+) rows: resumable from key \[\"(\d+)\"\]", w.err)
    assert m, w.err
    now, first, rows, key = (int(g) for g in m.groups())
    assert now >= 4 and first >= 4, m.group(0)
    assert "once its load has passed, run the same backfill command again" in w.err, w.err
    done = copied(target)
    assert rows == done and 1000 <= done < N, (rows, done)
    # exactly the rows up to the key are copied: every batch that ran was
    # checkpointed
    assert target.query("SELECT count(*), max(id) FROM items WHERE _migrate_1 <> 0") \
        == [(done, key)]
    st = backfill_status(p)
    assert st["done"] is False and st["rows_done"] == done, st
    assert st["checkpoints"][0]["last_key"] == [str(key)], st
    assert p.phases() == {1: "expanded"}
    # the last --json line says why it stopped, and that it is not done
    last = w.progress()[-1]
    assert last["done"] is False and last["rows_done"] == done, last
    assert throttle(last).startswith("stopped: ") and "--critical-load 2" in throttle(last), last
    # without the load, the same command resumes and finishes
    for t in busy:
        t.join(15)
    r = p.ok("backfill", "--json", "--critical-load", "2")
    assert "resuming" in r.err, r.describe()
    assert progress(r.err)[-1]["done"] is True, r.describe()
    assert p.phases() == {1: "backfilled"}
    assert backfill_status(p)["rows_done"] == N
    assert_all_copied(target, p)


def test_critical_load_spike_gone_by_the_second_reading_does_not_stop(target):
    p = expanded(target)
    # 4 busy sessions for 2.5 s, from before the start: the first reading
    # (at the first batch) sees them, the second one 5 s later does not;
    # at 2500 rows/s the backfill lasts 8 s, past the second reading
    busy = busy_sessions(target, 4, 2.5)
    r = p.run("backfill", "--json", "--critical-load", "2", "--critical-load-interval",
              "5000", "--batch-size", "500", "--max-rows-per-sec", "2500")
    for t in busy:
        t.join(15)
    assert r.rc == 0, r.describe()
    lines = progress(r.err)
    seen = [j for j in lines if throttle(j).startswith("critical load")]
    assert seen, "the first reading did not see the spike\n" + r.describe()
    assert re.fullmatch(r"critical load: \d+ active sessions > --critical-load 2, "
                        r"read again in 5000 ms", throttle(seen[0])), seen[0]
    assert lines[-1]["done"] is True, lines[-1]
    assert "stopped" not in r.err, r.describe()
    assert_all_copied(target, p)


def test_critical_load_interval_0_stops_at_the_first_reading(target):
    """--critical-load-interval 0: the first reading over N stops. The
    sessions are another role's: on PostgreSQL their state is hidden from
    migrate's role and they count as active, which the message says (a
    stop for want of a grant must not read as load)."""
    p = expanded(target)
    busy = busy_sessions(target, 3, 6, other_role=True)
    r = p.run("backfill", "--json", "--critical-load", "2", "--critical-load-interval", "0",
              "--batch-size", "500")
    for t in busy:
        t.join(15)
    assert r.rc == 3, r.describe()
    m = re.search(r"stopped: (\d+) active sessions > --critical-load 2(.*), after 0 rows: "
                  r"resumable from key \(start\)", r.err)
    assert m and int(m.group(1)) >= 3, r.describe()
    assert "two readings" not in m.group(2), m.group(0)
    if target.is_pg:
        assert "of them are other roles' sessions whose state this role cannot see" \
            in m.group(2), m.group(0)
    assert copied(target) == 0
    last = progress(r.err)[-1]
    assert throttle(last).startswith("stopped: ") and last["done"] is False, last
    r = p.ok("backfill", "--critical-load", "2", "--critical-load-interval", "0")
    assert_all_copied(target, p)


# --------------------------------------------------------------------------
# 3. bad values


@pytest.mark.targets("postgres")
def test_bad_values_of_the_new_options_are_usage_errors(target):
    p = expanded(target, 1000)
    for args, word in ((["--max-lock-waits", "-1"], "--max-lock-waits"),
                       (["--max-lock-waits", "many"], "--max-lock-waits"),
                       (["--critical-load", "1.5"], "--critical-load"),
                       (["--critical-load", "-3"], "--critical-load"),
                       (["--critical-load-interval", "soon"], "--critical-load-interval")):
        r = p.expect(2, "backfill", *args)
        assert "option '%s'" % word in r.err, r.describe()
    for text, word in (("max_lock_waits: -1\n", "max_lock_waits"),
                       ("critical_load: high\n", "critical_load"),
                       ("critical_load_interval: soon\n", "critical_load_interval")):
        (p.dir / "migrate.yaml").write_text(text)
        r = p.expect(2, "backfill", "--config", str(p.dir / "migrate.yaml"))
        assert word in r.err, r.describe()
    (p.dir / "migrate.yaml").unlink()
    assert copied(target) == 0
    assert p.phases() == {1: "expanded"}
