"""Network faults and signals on PostgreSQL (issue 11, defects 2, 3, 9).

- A TCP proxy (socat) between migrate and the server, frozen with SIGSTOP
  mid-backfill and while an index build waits at expand: migrate gives up
  within a bound (--network-timeout, and < 60 s with the default), exit 3;
  after the proxy is gone a rerun on the direct URL finishes, no row lost.
- A statement that is legitimately silent for longer than
  --network-timeout (an index build waiting for an old snapshot) is not
  given up: the second connection sees it running.
- SIGTERM while CREATE INDEX CONCURRENTLY waits: exit 3 within seconds,
  the statement is cancelled on the server (no migrate session left
  running, the advisory lock free), and a rerun finishes the index.
- SIGINT while a step waits for a table lock: the same. A second signal
  exits at once, and the server ends the orphaned build by itself
  (client_connection_check_interval).
- SIGTERM while the proxy is frozen: exit 3 in seconds, not after the
  network bound.
- a link taken down (migrate in a network namespace, its veth set down)
  mid-backfill: the same bound, the same rerun.
- connect_timeout in the URL and PGCONNECT_TIMEOUT are honoured (a
  listener that accepts and never answers), and --network-timeout is the
  default when neither is set.
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import Watch, _CheckedPopen, _clean_env, _free_port

MARKER = "_migrate_1"

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

INDEX = """
description: an index on items.n
operations:
  - create_index:
      table: items
      name: items_n_idx
      columns: [n]
"""

ADD = """
description: a new column
operations:
  - add_column:
      table: items
      column: note
      type: text
"""


class Proxy:
    """socat between migrate and the server, in its own process group so
    that the listener and every per-connection child freeze together."""

    def __init__(self, target_port):
        self.port = _free_port()
        self.p = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{self.port},fork,reuseaddr,bind=127.0.0.1",
             f"TCP:127.0.0.1:{target_port}"],
            start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("socat did not start listening")

    def url(self, db):
        return db.url.replace(f":{db.server.port}/", f":{self.port}/")

    def _signal(self, sig):
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def freeze(self):
        self._signal(signal.SIGSTOP)

    def close(self):
        self._signal(signal.SIGKILL)
        self._signal(signal.SIGCONT)
        self.p.wait(10)


@pytest.fixture
def proxy(pg_server):
    p = Proxy(pg_server.port)
    try:
        yield p
    finally:
        p.close()


def make_items(db, n):
    db.execute("CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL,"
               " label text)")
    db.execute("INSERT INTO items SELECT g, g %% 1000, 'v' || g"
               " FROM generate_series(1, %d) g" % n)
    db.execute("CREATE TABLE other (id int)")
    db.execute("ANALYZE items")


def copied(db):
    return db.query("SELECT count(*) FROM items WHERE %s <> 0" % MARKER)[0][0]


def migrate_sessions(db):
    """migrate's sessions still running a statement, and advisory locks."""
    with db.admin() as c:
        running = c.execute(
            "SELECT pid, application_name, state, query FROM pg_stat_activity"
            " WHERE application_name LIKE 'migrate%%' AND state <> 'idle'").fetchall()
        locks = c.execute("SELECT count(*) FROM pg_locks"
                          " WHERE locktype = 'advisory'").fetchone()[0]
    return running, locks


def wait_server_clean(db, timeout=10):
    """Until no migrate session runs a statement and no advisory lock is
    held (a backend ends just after its client goes)."""
    deadline = time.monotonic() + timeout
    while True:
        running, locks = migrate_sessions(db)
        if not running and not locks:
            return
        if time.monotonic() > deadline:
            raise AssertionError("left on the server: %r, %d advisory locks"
                                 % (running, locks))
        time.sleep(0.1)


def wait_for_query(db, pattern, timeout=30):
    """Until a migrate session runs a statement matching the LIKE pattern."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = db.admin().execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'migrate%%'"
            " AND state = 'active' AND query LIKE %s", (pattern,)).fetchall()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("no migrate session ran %s" % pattern)


def old_snapshot(db):
    """A transaction with a snapshot older than any index build started
    after it: CREATE INDEX CONCURRENTLY waits for it to end. It holds no
    lock on items, so the blocker check lets expand start."""
    c = db.connect(autocommit=False, application_name="pytest-snapshot")
    c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    c.execute("SELECT count(*) FROM other")
    return c


def assert_all_copied(db, n):
    assert db.query("SELECT count(*) FROM items") == [(n,)]
    bad = db.query("SELECT id FROM items WHERE n_big IS DISTINCT FROM"
                   " (id %% 1000) * 2 + 1 OR %s <> 1 LIMIT 5" % MARKER)
    assert bad == [], bad


def index_valid(db):
    return db.query("SELECT i.indisvalid FROM pg_index i JOIN pg_class c"
                    " ON c.oid = i.indexrelid WHERE c.relname = 'items_n_idx'")


# --------------------------------------------------------------------------
# 1. a frozen proxy


def backfill_until_fault(project, start, fault, what, bound, n=200000):
    """Expand, start a backfill with start(), apply fault() once 3000 rows
    are copied, and check that migrate gives up within bound seconds with
    exit 3. Returns (seconds after the fault, the Watch)."""
    make_items(project.db, n)
    project.write("0001_alter_n.yaml", ALTER)
    project.ok("expand")
    w = Watch(start())
    try:
        w.wait_for(lambda: copied(project.db) >= 3000, "3000 rows copied")
        fault()
        t0 = time.monotonic()
        rc = w.finish(timeout=bound + 30)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    print("gave up %.1f s after %s" % (took, what))
    assert rc == 3, w.err
    assert took < bound, "gave up after %.1f s (bound %d s)\n%s" % (took, bound, w.err)
    assert "no answer from the server" in w.err, w.err
    return took, w


def frozen_backfill(project, proxy, extra, bound):
    n = 200000
    took, w = backfill_until_fault(
        project, lambda: project.popen("-d", proxy.url(project.db), *extra, "backfill",
                                       "--batch-size", "500", "--sleep", "10"),
        proxy.freeze, "the freeze", bound, n)
    assert "hint:" in w.err and "run the same command again" in w.err, w.err
    proxy.close()
    wait_server_clean(project.db)
    project.ok("backfill")
    assert_all_copied(project.db, n)
    return took


def test_frozen_proxy_mid_backfill_gives_up_within_network_timeout(project, proxy):
    took = frozen_backfill(project, proxy, ["--network-timeout", "1500"], 12)
    assert took >= 1.4, took


def test_frozen_proxy_mid_backfill_default_bound(project, proxy):
    frozen_backfill(project, proxy, [], 60)


def test_sigterm_while_the_proxy_is_frozen(project, proxy):
    """The default bound is long (about 20 s); a signal does not wait for
    it: the cancel request cannot get through either, and is given up
    after a few seconds."""
    n = 200000
    make_items(project.db, n)
    project.write("0001_alter_n.yaml", ALTER)
    project.ok("expand")
    w = Watch(project.popen("-d", proxy.url(project.db), "backfill",
                            "--batch-size", "500", "--sleep", "10"))
    try:
        w.wait_for(lambda: copied(project.db) >= 3000, "3000 rows copied")
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
    wait_server_clean(project.db)
    project.ok("backfill")
    assert_all_copied(project.db, n)


class Netns:
    """migrate in a network namespace of its own, reaching the server
    through a veth pair and a socat on the host side; link_down() takes
    the namespace's end of the link down (root only)."""

    def __init__(self, server_port):
        tag = "%x" % (os.getpid() & 0xffff)
        self.ns, self.host_if, self.ns_if = f"mgn{tag}", f"mgh{tag}", f"mgn{tag}"
        net = 16 + os.getpid() % 200
        self.host_ip, ns_ip = f"10.213.{net}.1", f"10.213.{net}.2"
        for cmd in (["ip", "netns", "add", self.ns],
                    ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name",
                     self.ns_if, "netns", self.ns],
                    ["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if],
                    ["ip", "link", "set", self.host_if, "up"],
                    ["ip", "-n", self.ns, "addr", "add", f"{ns_ip}/30", "dev", self.ns_if],
                    ["ip", "-n", self.ns, "link", "set", self.ns_if, "up"],
                    ["ip", "-n", self.ns, "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True, capture_output=True)
        self.port = _free_port()
        self.socat = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{self.port},fork,reuseaddr,bind={self.host_ip}",
             f"TCP:127.0.0.1:{server_port}"], start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def url(self, db):
        return db.url.replace(f"127.0.0.1:{db.server.port}/", f"{self.host_ip}:{self.port}/")

    def popen(self, project, *args):
        argv = ["ip", "netns", "exec", self.ns, project.bin, *project.base_args(),
                *map(str, args)]
        return _CheckedPopen(argv, cwd=str(project.dir), env=_clean_env(project.env),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace")

    def link_down(self):
        subprocess.run(["ip", "-n", self.ns, "link", "set", self.ns_if, "down"], check=True)

    def close(self):
        try:
            os.killpg(self.socat.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.socat.wait(10)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@pytest.fixture
def netns(pg_server):
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root (scripts/test.sh runs as root)")
    n = Netns(pg_server.port)
    try:
        yield n
    finally:
        n.close()


@pytest.mark.parametrize("extra, bound", [(["--network-timeout", "2000"], 12), ([], 60)])
def test_link_down_mid_backfill(project, netns, extra, bound):
    n = 200000
    backfill_until_fault(
        project, lambda: netns.popen(project, "-d", netns.url(project.db), *extra,
                                     "backfill", "--batch-size", "500", "--sleep", "10"),
        netns.link_down, "the link went down", bound, n)
    netns.close()       # the server's side of the sessions ends with socat
    wait_server_clean(project.db)
    project.ok("backfill")
    assert_all_copied(project.db, n)


def test_frozen_proxy_while_index_build_waits(project, proxy):
    make_items(project.db, 1000)
    project.write("0001_index.yaml", INDEX)
    snap = old_snapshot(project.db)
    w = Watch(project.popen("-d", proxy.url(project.db), "--network-timeout", "1500",
                            "expand"))
    try:
        wait_for_query(project.db, "CREATE INDEX CONCURRENTLY%")
        proxy.freeze()
        t0 = time.monotonic()
        rc = w.finish(timeout=60)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 15, "gave up after %.1f s\n%s" % (took, w.err)
    snap.rollback()
    proxy.close()
    wait_server_clean(project.db)
    project.ok("expand")
    assert index_valid(project.db) == [(True,)]


def test_silent_index_build_is_not_given_up(project):
    """Waiting for an old snapshot for 3x --network-timeout: the second
    connection sees the build running, so migrate keeps waiting."""
    make_items(project.db, 1000)
    project.write("0001_index.yaml", INDEX)
    snap = old_snapshot(project.db)
    w = Watch(project.popen("--network-timeout", "1000", "expand"))
    try:
        wait_for_query(project.db, "CREATE INDEX CONCURRENTLY%")
        time.sleep(3.5)
        assert w.p.poll() is None, w.err
        snap.rollback()
        rc = w.finish(timeout=60)
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 0, w.err
    assert index_valid(project.db) == [(True,)]


# --------------------------------------------------------------------------
# 2. signals end every phase promptly and leave nothing running


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_index_build_cancels_it(project, sig):
    make_items(project.db, 1000)
    project.write("0001_index.yaml", INDEX)
    snap = old_snapshot(project.db)
    w = Watch(project.popen("expand"))
    try:
        wait_for_query(project.db, "CREATE INDEX CONCURRENTLY%")
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
    wait_server_clean(project.db, timeout=3)
    snap.rollback()
    project.ok("expand")
    assert index_valid(project.db) == [(True,)]


def test_sigint_while_waiting_for_a_table_lock(project):
    make_items(project.db, 100)
    project.write("0001_add.yaml", ADD)
    holder = project.db.connect(autocommit=False, application_name="pytest-holder")
    holder.execute("LOCK TABLE items IN ACCESS SHARE MODE")
    w = Watch(project.popen("expand", "--lock-timeout", "60000", "--max-tx-age", "3600"))
    try:
        wait_for_query(project.db, "%LOCK TABLE%")
        time.sleep(0.5)
        assert w.p.poll() is None, w.err
        w.p.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        rc = w.finish(timeout=30)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 5, "exited %.1f s after SIGINT\n%s" % (took, w.err)
    assert "interrupted by SIGINT" in w.err, w.err
    wait_server_clean(project.db, timeout=3)
    assert "note" not in [r[0] for r in project.db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'")]
    holder.rollback()
    project.ok("expand")


def test_second_signal_exits_at_once(project):
    make_items(project.db, 1000)
    project.write("0001_index.yaml", INDEX)
    snap = old_snapshot(project.db)
    w = Watch(project.popen("--network-timeout", "1000", "expand"))
    try:
        wait_for_query(project.db, "CREATE INDEX CONCURRENTLY%")
        # two signals in a row: the second one does not wait for the cancel
        w.p.send_signal(signal.SIGINT)
        time.sleep(0.2)     # two at once would be one pending signal
        w.p.send_signal(signal.SIGINT)
        rc = w.finish(timeout=10)
        assert rc == 3, w.err
        assert "interrupted twice" in w.err, w.err
        # the server notices the client is gone (client_connection_check_
        # interval = --network-timeout) and ends the build by itself
        wait_server_clean(project.db, timeout=8)
    finally:
        if w.p.poll() is None:
            w.p.kill()
        snap.rollback()
    project.ok("expand")
    assert index_valid(project.db) == [(True,)]


def keepalive_timers(pid, port):
    """Seconds left on the keepalive timer of each TCP socket of process
    pid to port (ss); None for a socket without one (no SO_KEEPALIVE)."""
    out = subprocess.run(["ss", "-tnopH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    timers = []
    for line in out.splitlines():
        if f"pid={pid}," not in line:
            continue
        m = re.search(r"timer:\(keepalive,([^,]*),", line)
        if not m:
            timers.append((None, line))
            continue
        secs = 0.0
        for num, unit in re.findall(r"([\d.]+)(min|sec|ms)", m.group(1)):
            secs += float(num) * {"min": 60, "sec": 1, "ms": 0.001}[unit]
        timers.append((secs, line))
    return timers


@pytest.mark.parametrize("url_extra, low, high", [
    ("", 0, 4),                          # the default: --network-timeout
    ("?keepalives_idle=77", 60, 77),     # the URL's own value wins
])
def test_keepalives_by_default_and_the_url_wins(project, url_extra, low, high):
    make_items(project.db, 100)
    project.write("0001_index.yaml", INDEX)
    snap = old_snapshot(project.db)
    w = Watch(project.popen("-d", project.db.url + url_extra, "--network-timeout", "4000",
                            "expand"))
    try:
        wait_for_query(project.db, "CREATE INDEX CONCURRENTLY%")
        time.sleep(0.5)
        timers = keepalive_timers(w.p.pid, project.db.server.port)
        assert timers and all(t is not None and low <= t <= high for t, _ in timers), timers
    finally:
        snap.rollback()
        rc = w.finish(timeout=60)
    assert rc == 0, w.err


# --------------------------------------------------------------------------
# 3. connecting is bounded by what the user set


@pytest.fixture
def silent_listener():
    """A port whose kernel accepts connections that nobody ever answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def timed(project, *args, env=None):
    t0 = time.monotonic()
    r = project.run(*args, env=env, timeout=60)
    return r, time.monotonic() - t0


def test_connect_timeout_in_url_is_honoured(project, silent_listener):
    url = project.db.url.replace(f":{project.db.server.port}/", f":{silent_listener}/")
    r, took = timed(project, "-d", url + "?connect_timeout=2", "status")
    assert r.rc == 3, r.describe()
    assert "cannot connect" in r.err, r.describe()
    assert 1.5 < took < 6, took
    # longer than the default 10 s is honoured too
    r, took = timed(project, "-d", url + "?connect_timeout=12", "status")
    assert r.rc == 3 and 11.5 < took < 17, (took, r.describe())


def test_pgconnect_timeout_is_honoured(project, silent_listener):
    url = project.db.url.replace(f":{project.db.server.port}/", f":{silent_listener}/")
    r, took = timed(project, "-d", url, "status", env={"PGCONNECT_TIMEOUT": "2"})
    assert r.rc == 3 and 1.5 < took < 6, (took, r.describe())


def test_network_timeout_is_the_default_connect_timeout(project, silent_listener):
    url = project.db.url.replace(f":{project.db.server.port}/", f":{silent_listener}/")
    r, took = timed(project, "-d", url, "--network-timeout", "3000", "status")
    assert r.rc == 3 and 2.5 < took < 7, (took, r.describe())


def test_url_keepalive_parameters_win(project):
    """keepalives and tcp_user_timeout from the URL reach the connection
    (the server sees the client's choice on its side of the socket only
    for keepalives, so this checks that migrate still connects with them
    and that a bad one is the URL's own error, not overridden)."""
    make_items(project.db, 10)
    url = project.db.url + "?keepalives=0&tcp_user_timeout=1234&connect_timeout=3"
    project.ok("-d", url, "status")
    r = project.run("-d", project.db.url + "?tcp_user_timeout=notanumber", "status")
    assert r.rc == 3, r.describe()   # the URL's value reached libpq


def test_bad_network_timeout_is_input_error(project):
    r = project.run("--network-timeout", "5", "status")
    assert r.rc == 2 and "--network-timeout" in r.err, r.describe()
