"""backfill --max-lag on PostgreSQL against real standbys (issue 17).

This file starts its own primary and TWO streaming hot standbys
(harness/standby.py: pg_basebackup -R, cluster_name standby1/standby2) and
checks what docs/operations.md ("Lag throttling on standbys and replicas")
says:

- the lag is the slowest standby's replay_lag as the primary measures it:
  one standby whose replay is paused (pg_wal_replay_pause: WAL arrives,
  nothing is replayed, the lag grows for real) pauses the backfill with its
  figure while the other is fine; no row is copied while paused; replay
  resumed, the backfill goes on by itself and every row reaches both;
- it fails closed: a standby named in the URL (standby=HOST:PORT) that
  cannot be reached, or one the primary listed when the backfill began
  that is gone from pg_stat_replication, makes the lag unreadable: the
  backfill pauses with a message naming the standby, and goes on by
  itself once it is back; SIGTERM stops a paused backfill (exit 3), and a
  rerun without the standby (removed on purpose) watches only the
  standbys there then and finishes.

MariaDB's replicas: test_mysql_throttles.py (one file per server kind, so
each starts only its own set of servers).
"""

import signal
import time

import pytest

from conftest import APP_PASSWORD, APP_USER, Project, Watch, serve
from harness.standby import PgPrimary, PgStandby

ROWS = 4000
MIGRATION = """
description: Rename items.label to items.title
operations:
  - rename_column:
      table: items
      from: label
      to: title
"""


class PrimaryWithStandbys:
    """A primary and its two standbys, started and stopped as one."""

    def __init__(self):
        self.primary = PgPrimary()
        self.standbys = [PgStandby(self.primary, "standby1"),
                         PgStandby(self.primary, "standby2")]

    def start(self):
        self.primary.start()
        with self.primary.admin() as c:
            # the positions in pg_stat_replication and the WAL receiver's
            # status are shown to pg_monitor only (docs/grants.md); the
            # grant reaches the standbys with the copy
            c.execute(f"GRANT pg_monitor TO {APP_USER}")
        for s in self.standbys:
            s.start()

    def stop(self):
        for s in self.standbys:
            s.stop()
        self.primary.stop()


@pytest.fixture(scope="module")
def trio():
    yield from serve(PrimaryWithStandbys(), "the PostgreSQL primary and its two standbys")


def is_up(standby):
    try:
        with standby.admin():
            return True
    except Exception:
        return False


@pytest.fixture
def sdb(trio, request):
    """A database on the primary; afterwards both standbys run and replay
    again, whatever the test did to them."""
    d = trio.primary.new_database(request.node.name)
    try:
        yield d
    finally:
        d.drop()
        for s in trio.standbys:
            if not is_up(s):
                s.resume()
            s.resume_replay()


def expanded(trio, db, tmp_path, migrate_bin, query=""):
    db.execute("CREATE TABLE items (id bigserial PRIMARY KEY, label text NOT NULL)")
    db.execute(f"INSERT INTO items (label) SELECT 'item-' || g FROM generate_series(1, {ROWS}) g")
    if query:
        db.url += "?" + query
    p = Project(migrate_bin, db, tmp_path)
    p.write("0001_rename.yaml", MIGRATION)
    p.ok("expand", "1")
    for s in trio.standbys:
        s.wait_replayed()
    return p


def named(trio):
    return "&".join(f"standby=127.0.0.1:{s.port}" for s in trio.standbys)


def start_backfill(project, *args, max_lag="500"):
    """`backfill 1 --json --max-lag MAX_LAG`, slowed to 1000 rows/s, in the
    background."""
    return Watch(project.popen("--json", "backfill", "1", "--batch-size", "100",
                               "--max-rows-per-sec", "1000", "--max-lag", max_lag, *args))


def throttle(ev):
    return ev.get("throttle") or ""


def rows_done(ev):
    return ev.get("rows_done", 0)


def wait_line(w, pred, what, timeout=30):
    return w.wait_for(lambda: w.line_where(pred), what, timeout=timeout)


def wait_started(bf):
    """Rows are being copied (so a pause that follows is the standby's)."""
    return wait_line(bf, lambda ev: rows_done(ev) > 0, "the first rows copied")


def assert_stays_paused(bf, seconds=2.5):
    """No rows done while paused: once the batches that were running when
    the pause began have ended (a second), rows_done stays where it is.
    The last paused line."""
    wait_line(bf, lambda ev: throttle(ev).startswith("paused"), "a pause")
    time.sleep(1.0)
    base = [ev for ev in bf.progress() if throttle(ev).startswith("paused")][-1]
    time.sleep(seconds)
    paused = [ev for ev in bf.progress() if throttle(ev).startswith("paused")]
    later = [ev for ev in paused if rows_done(ev) > rows_done(base)]
    assert not later, "rows were done while paused:\n" + bf.err
    assert rows_done(base) < ROWS, bf.err
    return paused[-1]


def assert_finished(bf):
    assert bf.finish() == 0, bf.err + bf.out
    last = bf.progress()[-1]
    assert last["done"] is True and last["rows_done"] == ROWS, bf.err


def assert_standbys_have_every_row(trio, db):
    for s in trio.standbys:
        s.wait_replayed()
        with s.admin(db.name) as c:
            n, same = c.execute("SELECT count(*), count(*) FILTER (WHERE title = label) "
                                "FROM items").fetchone()
        assert (n, same) == (ROWS, ROWS), (s.name, n, same)


def standby_lag_s(trio, name):
    return {r[0]: r[2] for r in trio.primary.replication()}.get(name)


def test_replay_paused_on_one_standby_pauses_with_its_lag_then_goes_on(trio, sdb, tmp_path,
                                                                        migrate_bin):
    p = expanded(trio, sdb, tmp_path, migrate_bin)
    slow, fine = trio.standbys[1], trio.standbys[0]
    slow.pause_replay()
    bf = start_backfill(p)
    ev = assert_stays_paused(bf)
    msg = throttle(ev)
    assert msg.startswith("paused: replication lag ") and msg.endswith("ms > --max-lag 500 ms"), msg
    lag_ms = int(msg.split("replication lag ")[1].split(" ")[0])
    assert lag_ms > 500, msg
    # the slowest counts: the other standby keeps up meanwhile
    fine.wait_replayed(timeout=10)
    assert (standby_lag_s(trio, fine.name) or 0) < 0.5, trio.primary.replication()
    assert (standby_lag_s(trio, slow.name) or 0) > 0.5, trio.primary.replication()
    slow.resume_replay()
    assert_finished(bf)
    assert_standbys_have_every_row(trio, sdb)


def test_named_standby_gone_pauses_until_it_is_back(trio, sdb, tmp_path, migrate_bin):
    p = expanded(trio, sdb, tmp_path, migrate_bin, query=named(trio))
    gone = trio.standbys[1]
    bf = start_backfill(p, max_lag="5s")
    wait_started(bf)
    gone.halt()
    ev = assert_stays_paused(bf)
    msg = throttle(ev)
    assert "replication lag cannot be read" in msg, msg
    assert f"standby 127.0.0.1:{gone.port}" in msg, msg
    assert "the backfill goes on once it streams again" in msg, msg
    gone.resume()
    assert_finished(bf)
    assert_standbys_have_every_row(trio, sdb)


def test_listed_standby_gone_pauses_until_it_is_back(trio, sdb, tmp_path, migrate_bin):
    """Not named in the URL: the standbys pg_stat_replication listed when
    the backfill first read the lag are the ones it waits for."""
    p = expanded(trio, sdb, tmp_path, migrate_bin)
    gone = trio.standbys[0]
    bf = start_backfill(p, "--jobs", "2", max_lag="5s")
    wait_started(bf)
    gone.halt()
    ev = assert_stays_paused(bf)
    msg = throttle(ev)
    assert "replication lag cannot be read" in msg, msg
    assert "standby 'standby1' (from a unix socket) no longer streams from this server" in msg, msg
    assert "removed on purpose? stop the backfill and run it again" in msg, msg
    gone.resume()
    assert_finished(bf)
    assert_standbys_have_every_row(trio, sdb)


def test_sigterm_while_a_standby_is_gone_then_rerun_without_it(trio, sdb, tmp_path, migrate_bin):
    """The way out when a standby was removed on purpose: stop the backfill
    (exit 3, resumable) and run it again: it watches the standbys there
    now. A standby still named in the URL keeps it paused."""
    p = expanded(trio, sdb, tmp_path, migrate_bin, query=named(trio))
    gone = trio.standbys[1]
    bf = start_backfill(p, max_lag="5s")
    wait_started(bf)
    gone.halt()
    ev = assert_stays_paused(bf, seconds=1.0)
    assert f"standby 127.0.0.1:{gone.port}" in throttle(ev), throttle(ev)
    bf.p.send_signal(signal.SIGTERM)
    assert bf.finish(timeout=30) == 3, bf.err + bf.out
    assert "stopped by signal" in bf.err, bf.err
    done_before = rows_done(bf.progress()[-1])
    assert 0 < done_before < ROWS, bf.err
    # without it in the URL, and not streaming when this run begins
    sdb.url = sdb.url.split("?")[0] + f"?standby=127.0.0.1:{trio.standbys[0].port}"
    r = p.ok("--json", "backfill", "1", "--max-lag", "5s", timeout=60)
    assert "replication lag cannot be read" not in r.err, r.describe()
    gone.resume()
    assert_standbys_have_every_row(trio, sdb)


@pytest.mark.parametrize("case", ["primary_named_as_standby", "role_without_pg_monitor"])
def test_named_standby_that_cannot_vouch_for_itself_pauses(trio, sdb, tmp_path, migrate_bin,
                                                            case):
    """A standby= that is not a standby (the primary itself, or a promoted
    one), or whose WAL receiver this role may not see, fails closed."""
    if case == "primary_named_as_standby":
        query = f"standby=127.0.0.1:{trio.primary.port}"
        want = f"standby 127.0.0.1:{trio.primary.port} is not in recovery (promoted?)"
    else:
        query = named(trio)
        want = f"standby 127.0.0.1:{trio.standbys[0].port} hides its WAL receiver's status"
    p = expanded(trio, sdb, tmp_path, migrate_bin, query=query)
    if case == "role_without_pg_monitor":
        with trio.primary.admin() as c:
            c.execute(f"REVOKE pg_monitor FROM {APP_USER}")
        for s in trio.standbys:
            s.wait_replayed()
    try:
        bf = start_backfill(p, max_lag="5s")
        ev = assert_stays_paused(bf, seconds=1.0)
        assert want in throttle(ev), throttle(ev)
        assert rows_done(ev) == 0, bf.err
        bf.p.send_signal(signal.SIGTERM)
        assert bf.finish(timeout=30) == 3, bf.err + bf.out
    finally:
        with trio.primary.admin() as c:
            c.execute(f"GRANT pg_monitor TO {APP_USER}")
