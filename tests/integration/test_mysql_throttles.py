"""backfill --max-lag and --max-load on MariaDB (label "mysql").

--max-lag against real replicas: this file starts its own set of MariaDB
servers (harness/standby.py), a primary with a binary log and two replicas
that replicate from it (GTID), and checks what docs/commands.md,
docs/grants.md and docs/operations.md ("Lag throttling on standbys and
replicas") say:

- the replicas are found through the primary (SHOW SLAVE HOSTS, the
  replica's report_host/report_port) or named in the URL (?replica=);
- the lag is migrate's heartbeat's age, in ms, and the slowest replica
  counts: one delayed by MASTER_DELAY pauses the backfill with that figure
  while the other keeps up, and it goes on by itself once the replica
  catches up; every row reaches both replicas;
- a replica whose SQL thread is stopped, or that cannot be reached,
  pauses the backfill (fails closed) with a message naming the replica,
  and SIGTERM still stops a paused backfill (exit 3, resumable); a replica
  the primary listed when the backfill began that stops replicating (and
  so leaves SHOW SLAVE HOSTS) is still asked, and pauses it too;
- a bad replica= parameter is bad input (exit 2).

--max-load is the server's Threads_running, migrate's own sessions
excepted: sessions running a long statement pause the backfill until they
end (on the session server of conftest.py, no replica needed).
"""

import signal
import threading
import time

import pytest

from conftest import Project, Watch, _pymysql, progress, serve
from harness.standby import MariaDbReplicaSet

ROWS = 3000
MIGRATION = """
description: Rename items.label to items.title
operations:
  - rename_column:
      table: items
      from: label
      to: title
"""


@pytest.fixture(scope="module")
def rset():
    yield from serve(MariaDbReplicaSet(2), "the MariaDB primary and its two replicas")


@pytest.fixture
def rdb(rset, request):
    """A database on the primary (replicated), app may list replicas and
    read replica status (both grants replicate too). Afterwards both
    replicas replicate again, undelayed."""
    d = rset.primary.new_database(request.node.name)
    d.grant("REPLICATION MASTER ADMIN, REPLICA MONITOR", "*.*")
    try:
        yield d
    finally:
        d.drop()
        for i in range(len(rset.replicas)):     # a test may have stopped one
            rset.replica_sql(i, "START SLAVE")
        for i in range(len(rset.replicas)):
            if int(replica_status(rset, i)["SQL_Delay"]):
                rset.set_delay(i, 0)
        rset.wait_listed()


def replica_status(rset, i):
    """SHOW SLAVE STATUS of replica i, by column name."""
    with rset.replicas[i].admin() as c, c.cursor() as cur:
        cur.execute("SHOW SLAVE STATUS")
        return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def seed(db, rows=ROWS):
    db.execute("CREATE TABLE items (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, "
               "label varchar(100) NOT NULL)")
    db.execute("INSERT INTO items (label) SELECT CONCAT('item-', seq) "
               f"FROM seq_1_to_{rows}")


def start_backfill(project, *args):
    """`backfill 1 --json`, slowed to 1000 rows/s, in the background."""
    return Watch(project.popen("--json", "backfill", "1", "--batch-size", "100",
                               "--max-rows-per-sec", "1000", *args))


def wait_line(w, pred, what):
    """The first progress line for which pred holds (waiting for it)."""
    return w.wait_for(lambda: w.line_where(pred), what)


def throttle(ev):
    return ev.get("throttle") or ""


def rows_done(ev):
    return ev.get("rows_done", 0)


def assert_stays_paused(bf, seconds=2.5):
    """No rows done while paused: once the batches that were running when
    the pause began have ended (a second), rows_done stays where it is."""
    first = wait_line(bf, lambda ev: throttle(ev).startswith("paused"), "a pause")
    time.sleep(1.0)
    base = [ev for ev in bf.progress() if throttle(ev).startswith("paused")][-1]
    time.sleep(seconds)
    later = [ev for ev in bf.progress() if rows_done(ev) > rows_done(base)
             and throttle(ev).startswith("paused")]
    assert not later, "rows were done while paused:\n" + bf.err
    return first


def expanded(rset, db, tmp_path, migrate_bin, url=None):
    seed(db)
    p = Project(migrate_bin, db, tmp_path)
    if url:
        db.url = url
    p.write("0001_rename.yaml", MIGRATION)
    p.ok("expand", "1")
    rset.wait_caught_up()
    return p


def assert_replicas_have_every_row(rset, db):
    rset.wait_caught_up()
    for i in range(len(rset.replicas)):
        rows = rset.replica_sql(i, f"SELECT COUNT(*), SUM(title = label) FROM `{db.name}`.items")
        assert rows[0][0] == ROWS and int(rows[0][1]) == ROWS, (i, rows)


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_delayed_replica_pauses_with_its_lag_then_goes_on(rset, rdb, tmp_path, migrate_bin,
                                                          jobs):
    """With --jobs 3 the workers take turns at the check: the heartbeats
    are the process's, so whichever checks sees the whole lag."""
    p = expanded(rset, rdb, tmp_path, migrate_bin)
    rset.set_delay(0, 3)
    bf = start_backfill(p, "--max-lag", "1000", "--jobs", jobs)
    ev = assert_stays_paused(bf)
    # the figure is the heartbeat's age in ms, not whole seconds
    lag = wait_line(bf, lambda e: "replication lag 2" in throttle(e)
                     or "replication lag 3" in throttle(e), "a lag of 2 or 3 s")
    assert "> --max-lag 1000 ms" in throttle(lag), throttle(lag)
    assert rows_done(ev) < ROWS, bf.err
    rset.set_delay(0, 0)
    assert bf.finish() == 0, bf.err + bf.out
    last = bf.progress()[-1]
    assert last["done"] is True and last["rows_done"] == ROWS, bf.err
    assert_replicas_have_every_row(rset, rdb)
    # the heartbeat row is gone with the session that wrote it
    assert rdb.query("SELECT COUNT(*) FROM _migrate_heartbeat")[0][0] == 0


def test_replica_named_in_url_with_stopped_sql_thread_pauses(rset, rdb, tmp_path, migrate_bin):
    url = rdb.url_for() + f"?replica=127.0.0.1:{rset.replicas[0].port}"
    p = expanded(rset, rdb, tmp_path, migrate_bin, url=url)
    rset.replica_sql(0, "STOP SLAVE SQL_THREAD")
    try:
        bf = start_backfill(p, "--max-lag", "1000")
        ev = assert_stays_paused(bf)
        msg = throttle(ev)
        assert "replication lag cannot be read" in msg, msg
        assert f"replica 127.0.0.1:{rset.replicas[0].port} is stopped" in msg, msg
        assert "SQL thread: No" in msg, msg
    finally:
        rset.replica_sql(0, "START SLAVE SQL_THREAD")
    assert bf.finish() == 0, bf.err + bf.out
    assert_replicas_have_every_row(rset, rdb)


def test_unreachable_replica_pauses_and_sigterm_stops(rset, rdb, tmp_path, migrate_bin,
                                                      closed_port):
    url = rdb.url_for() + f"?replica=127.0.0.1:{closed_port}"
    p = expanded(rset, rdb, tmp_path, migrate_bin, url=url)
    bf = start_backfill(p, "--max-lag", "1000")
    ev = assert_stays_paused(bf, seconds=1.5)
    msg = throttle(ev)
    assert f"replica 127.0.0.1:{closed_port}: cannot connect" in msg, msg
    bf.p.send_signal(signal.SIGTERM)
    assert bf.finish(timeout=30) == 3, bf.err + bf.out
    assert "stopped by signal" in bf.err, bf.err
    # without the broken replica in the URL, a rerun finishes the job
    rdb.url = rdb.url_for()
    p.ok("backfill", "1", "--max-lag", "1000")
    assert_replicas_have_every_row(rset, rdb)


def gtid_pos(rset):
    with rset.primary.admin() as c, c.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        return cur.fetchone()[0]


def test_two_replicas_the_delayed_one_counts(rset, rdb, tmp_path, migrate_bin):
    p = expanded(rset, rdb, tmp_path, migrate_bin)
    rset.set_delay(1, 3)
    bf = start_backfill(p, "--max-lag", "1000")
    ev = assert_stays_paused(bf)
    lag = wait_line(bf, lambda e: "replication lag 2" in throttle(e)
                    or "replication lag 3" in throttle(e), "a lag of 2 or 3 s")
    assert "> --max-lag 1000 ms" in throttle(lag), throttle(lag)
    assert rows_done(ev) < ROWS, bf.err
    # meanwhile the undelayed replica has everything the primary wrote,
    # the delayed one has not
    pos = gtid_pos(rset)
    assert rset.replica_sql(0, f"SELECT MASTER_GTID_WAIT('{pos}', 10)")[0][0] == 0
    assert rset.replica_sql(1, f"SELECT MASTER_GTID_WAIT('{pos}', 0.1)")[0][0] == -1
    rset.set_delay(1, 0)
    assert bf.finish() == 0, bf.err + bf.out
    assert bf.progress()[-1]["rows_done"] == ROWS, bf.err
    assert_replicas_have_every_row(rset, rdb)


def test_listed_replica_that_stops_replicating_pauses(rset, rdb, tmp_path, migrate_bin):
    """STOP SLAVE takes the replica out of SHOW SLAVE HOSTS: were the
    backfill to ask only the replicas listed now, it would not see it (and
    fail open). It asks every replica listed since it began."""
    p = expanded(rset, rdb, tmp_path, migrate_bin)
    port = rset.replicas[1].port
    bf = start_backfill(p, "--max-lag", "5s", "--jobs", "2")
    wait_line(bf, lambda ev: rows_done(ev) > 0, "the first rows copied")
    rset.replica_sql(1, "STOP SLAVE")
    deadline = time.monotonic() + 30
    while rset.listed() > 1:
        assert time.monotonic() < deadline, "the stopped replica stays listed"
        time.sleep(0.1)
    ev = assert_stays_paused(bf)
    msg = throttle(ev)
    assert f"replication on replica 127.0.0.1:{port} is stopped" in msg, msg
    assert "it was replicating when the backfill began" in msg, msg
    rset.replica_sql(1, "START SLAVE")
    assert bf.finish() == 0, bf.err + bf.out
    assert bf.progress()[-1]["rows_done"] == ROWS, bf.err
    assert_replicas_have_every_row(rset, rdb)


@pytest.mark.parametrize("value", ["replica=127.0.0.1", "replica=", "replica=:3306",
                                   "replica=host:99999"])
def test_bad_replica_parameter_is_bad_input(mysql_project, value):
    p = mysql_project
    p.db.url = p.db.url_for() + "?" + value
    r = p.expect(2, "status")
    assert "parameter 'replica' is not host:port" in r.err, r.describe()
    assert "replica=host:port" in r.err, r.describe()


# --------------------------------------------------------------------------
# --max-load: Threads_running


def test_max_load_pauses_while_sessions_run_statements(mysql_project, mariadb_server):
    p = mysql_project
    db = p.db
    seed(db)
    p.write("0001_rename.yaml", MIGRATION)
    p.ok("expand", "1")
    pymysql = _pymysql()
    sleepers, threads = [], []

    def sleep_in(conn):
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SLEEP(60)")
        except pymysql.err.Error:
            pass        # killed: the point of the test

    for _ in range(3):
        c = db.connect(program_name="pytest-sleeper")
        sleepers.append(c.thread_id())
        t = threading.Thread(target=sleep_in, args=(c,), daemon=True)
        t.start()
        threads.append(t)
    try:
        bf = start_backfill(p, "--max-load", "2")
        ev = assert_stays_paused(bf)
        msg = throttle(ev)
        assert "active sessions > --max-load 2" in msg, msg
        # nothing is hidden from Threads_running, so no word of grants
        assert "cannot see" not in msg, msg
    finally:
        for tid in sleepers:
            db.admin_query(f"KILL QUERY {tid}")
    for t in threads:
        t.join(10)
    assert bf.finish() == 0, bf.err + bf.out
    assert bf.progress()[-1]["done"] is True, bf.err


def test_max_load_does_not_count_migrates_own_workers(mysql_project):
    """--jobs 3 with --max-load 1: the other workers' batches are migrate's
    own and do not count, so the backfill finishes unpaused."""
    p = mysql_project
    seed(p.db)
    p.write("0001_rename.yaml", MIGRATION)
    p.ok("expand", "1")
    r = p.ok("--json", "backfill", "1", "--jobs", "3", "--batch-size", "50",
             "--max-load", "1", timeout=60)
    events = progress(r.err)
    paused = [e for e in events if (e.get("throttle") or "").startswith("paused")]
    assert not paused, r.describe()
    assert events[-1]["done"] is True, r.describe()
