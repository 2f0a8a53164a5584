"""Network faults and signals on MariaDB (issue 11, defects 2, 3, 9).

The same story as test_network_faults.py, for the mysql driver:
- a frozen socat proxy mid-backfill and while an ALTER waits for a
  metadata lock: migrate gives up within the bound of --network-timeout
  (exit 3), and a rerun on the direct URL finishes with every row copied;
- an ALTER silent for longer than --network-timeout while it waits for a
  metadata lock is not given up (a second session sees it running);
- SIGTERM / SIGINT while an ALTER waits: exit 3 within seconds, KILL QUERY
  ended it on the server (no migrate session runs a statement, the migrate
  lock is free), a rerun finishes;
- every session has TCP keepalives (idle --network-timeout);
- connect_timeout=N in the URL is honoured (a listener that never
  answers), and a bad one is bad input.
"""

import signal
import socket
import time

import pytest

from conftest import Watch
from test_network_faults import Proxy, keepalive_timers

MARKER = "_migrate_1"

ALTER = """
description: n becomes a bigint
operations:
  - alter_column:
      table: items
      column: n
      to: n_big
      type: bigint
      up: "CAST(n AS SIGNED) * 2 + 1"
      down: "CAST((n_big - 1) / 2 AS SIGNED)"
"""

INDEX = """
description: an index on items.n
operations:
  - create_index:
      table: items
      name: items_n_idx
      columns: [n]
"""


@pytest.fixture
def proxy(mariadb_server):
    p = Proxy(mariadb_server.port)
    try:
        yield p
    finally:
        p.close()


def proxied(p, proxy):
    return p.db.url_for(port=proxy.port)


def make_items(db, n):
    db.execute("CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL,"
               " label varchar(40))")
    db.execute("INSERT INTO items SELECT seq, seq % 1000, CONCAT('v', seq)"
               f" FROM seq_1_to_{n}")


def copied(db):
    return db.query(f"SELECT COUNT(*) FROM items WHERE `{MARKER}` <> 0")[0][0]


def running_migrate(db):
    """migrate's sessions running a statement, as the server sees them."""
    return [r for r in db.admin_query(
        "SELECT p.id, p.command, p.state, p.info FROM information_schema.processlist p"
        " JOIN performance_schema.session_connect_attrs a"
        "   ON a.processlist_id = p.id AND a.attr_name = 'program_name'"
        " WHERE a.attr_value LIKE 'migrate%' AND p.command <> 'Sleep'")]


def migrate_sessions(db):
    """Every session of migrate still connected (its GET_LOCK lock lives
    as long as its session)."""
    return db.admin_query(
        "SELECT p.id, p.command, p.state, p.info FROM information_schema.processlist p"
        " JOIN performance_schema.session_connect_attrs a"
        "   ON a.processlist_id = p.id AND a.attr_name = 'program_name'"
        " WHERE a.attr_value LIKE 'migrate%'")


def wait_server_clean(db, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        left = migrate_sessions(db)
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError("left on the server: %r" % (left,))
        time.sleep(0.1)


def wait_for_mdl_wait(db, timeout=30):
    """Until a migrate ALTER waits for the table's metadata lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [r for r in running_migrate(db)
               if (r[3] or "").startswith("ALTER") and "metadata lock" in (r[2] or "")]
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("no migrate ALTER waited for a metadata lock: %r"
                         % running_migrate(db))


def mdl_holder(db):
    """An open transaction that read items: it holds the table's metadata
    lock until it ends, so an ALTER waits."""
    c = db.connect(program_name="pytest-holder")
    c.autocommit(False)
    with c.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT COUNT(*) FROM items")
    return c


def assert_all_copied(db, n):
    assert db.query("SELECT COUNT(*) FROM items")[0][0] == n
    bad = db.query(f"SELECT id FROM items WHERE NOT (n_big <=> n * 2 + 1)"
                   f" OR `{MARKER}` <> 1 LIMIT 5")
    assert bad == [] or bad == (), bad


def has_index(db):
    return db.query("SELECT COUNT(*) FROM information_schema.statistics"
                    " WHERE table_schema = DATABASE() AND table_name = 'items'"
                    " AND index_name = 'items_n_idx'")[0][0] > 0


LOCK_WAIT = ["--lock-timeout", "3000", "--max-tx-age", "3600"]


# --------------------------------------------------------------------------
# 1. a frozen proxy


def test_frozen_proxy_mid_backfill(mysql_project, proxy):
    p = mysql_project
    n = 200000
    make_items(p.db, n)
    p.write("0001_alter_n.yaml", ALTER)
    p.ok("expand")
    w = Watch(p.popen("-d", proxied(p, proxy), "--network-timeout", "1500", "backfill",
                      "--batch-size", "500", "--sleep", "10"))
    try:
        w.wait_for(lambda: copied(p.db) >= 3000, "3000 rows copied")
        proxy.freeze()
        t0 = time.monotonic()
        rc = w.finish(timeout=60)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    print("gave up %.1f s after the freeze" % took)
    assert rc == 3, w.err
    assert took < 15, "gave up after %.1f s\n%s" % (took, w.err)
    assert "no answer from the server" in w.err, w.err
    proxy.close()
    wait_server_clean(p.db)
    p.ok("backfill")
    assert_all_copied(p.db, n)


def test_sigterm_while_the_proxy_is_frozen(mysql_project, proxy):
    """A signal does not wait for the network bound: KILL QUERY cannot get
    through the frozen proxy either and is given up after a few seconds."""
    p = mysql_project
    n = 200000
    make_items(p.db, n)
    p.write("0001_alter_n.yaml", ALTER)
    p.ok("expand")
    w = Watch(p.popen("-d", proxied(p, proxy), "backfill", "--batch-size", "500",
                      "--sleep", "10"))
    try:
        w.wait_for(lambda: copied(p.db) >= 3000, "3000 rows copied")
        proxy.freeze()
        time.sleep(1)
        w.p.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rc = w.finish(timeout=60)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 10, "exited %.1f s after SIGTERM\n%s" % (took, w.err)
    assert "stopped by signal" in w.err, w.err
    proxy.close()
    wait_server_clean(p.db)
    p.ok("backfill")
    assert_all_copied(p.db, n)


def test_frozen_proxy_while_alter_waits(mysql_project, proxy):
    p = mysql_project
    make_items(p.db, 1000)
    p.write("0001_index.yaml", INDEX)
    holder = mdl_holder(p.db)
    w = Watch(p.popen("-d", proxied(p, proxy), "--network-timeout", "1500", "expand",
                      "--lock-timeout", "20000", "--max-tx-age", "3600"))
    try:
        wait_for_mdl_wait(p.db)
        proxy.freeze()
        t0 = time.monotonic()
        rc = w.finish(timeout=60)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 15, "gave up after %.1f s\n%s" % (took, w.err)
    holder.rollback()
    proxy.close()
    wait_server_clean(p.db)
    p.ok("expand")
    assert has_index(p.db)


def test_silent_alter_is_not_given_up(mysql_project):
    p = mysql_project
    make_items(p.db, 1000)
    p.write("0001_index.yaml", INDEX)
    holder = mdl_holder(p.db)
    w = Watch(p.popen("--network-timeout", "1000", "expand", "--lock-timeout", "20000",
                      "--max-tx-age", "3600"))
    try:
        wait_for_mdl_wait(p.db)
        time.sleep(3.5)
        assert w.p.poll() is None, w.err
        holder.rollback()
        rc = w.finish(timeout=60)
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 0, w.err
    assert has_index(p.db)


# --------------------------------------------------------------------------
# 2. signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_alter_waits_kills_it(mysql_project, sig):
    p = mysql_project
    make_items(p.db, 1000)
    p.write("0001_index.yaml", INDEX)
    holder = mdl_holder(p.db)
    w = Watch(p.popen("expand", "--lock-timeout", "20000", "--max-tx-age", "3600"))
    try:
        wait_for_mdl_wait(p.db)
        w.p.send_signal(sig)
        t0 = time.monotonic()
        rc = w.finish(timeout=30)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 5, "exited %.1f s after the signal\n%s" % (took, w.err)
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    assert "interrupted by %s" % name in w.err, w.err
    assert "run the same command again" in w.err, w.err
    wait_server_clean(p.db, timeout=3)
    assert not has_index(p.db)
    holder.rollback()
    p.ok("expand")
    assert has_index(p.db)


def test_keepalives_on_every_session(mysql_project):
    """Connector/C has no keepalive option: migrate sets SO_KEEPALIVE and
    its idle time (--network-timeout) on the socket itself."""
    p = mysql_project
    make_items(p.db, 100)
    p.write("0001_index.yaml", INDEX)
    holder = mdl_holder(p.db)
    w = Watch(p.popen("--network-timeout", "4000", "expand", "--lock-timeout", "20000",
                      "--max-tx-age", "3600"))
    try:
        wait_for_mdl_wait(p.db)
        time.sleep(0.5)
        timers = keepalive_timers(w.p.pid, p.db.server.port)
        assert timers and all(t is not None and t <= 4 for t, _ in timers), timers
    finally:
        holder.rollback()
        rc = w.finish(timeout=60)
    assert rc == 0, w.err


# --------------------------------------------------------------------------
# 3. connect_timeout


@pytest.fixture
def silent_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def test_connect_timeout_in_url_is_honoured(mysql_project, silent_listener):
    p = mysql_project
    url = p.db.url_for(port=silent_listener)
    t0 = time.monotonic()
    r = p.run("-d", url + "?connect_timeout=2", "status", timeout=60)
    took = time.monotonic() - t0
    assert r.rc == 3 and 1.5 < took < 6, (took, r.describe())
    t0 = time.monotonic()
    r = p.run("-d", url, "--network-timeout", "3000", "status", timeout=60)
    took = time.monotonic() - t0
    assert r.rc == 3 and 2.5 < took < 8, (took, r.describe())


@pytest.mark.parametrize("value", ["", "0", "x", "-1", "99999999999"])
def test_bad_connect_timeout_is_input_error(mysql_project, value):
    p = mysql_project
    r = p.run("-d", p.db.url + "?connect_timeout=" + value, "status")
    assert r.rc == 2 and "connect_timeout" in r.err, r.describe()
