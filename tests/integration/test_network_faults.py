"""Network faults and signals (issue 11, defects 2, 3, 9), on PostgreSQL
and MariaDB: one test per behaviour, parametrised by target.

- A TCP proxy (socat) between migrate and the server, frozen with SIGSTOP
  mid-backfill and while an index build waits at expand: migrate gives up
  within a bound (--network-timeout, and < 60 s with the default), exit 3;
  after the proxy is gone a rerun on the direct URL finishes, no row lost.
- A statement that is legitimately silent for longer than
  --network-timeout (an index build waiting) is not given up: the second
  connection sees it running.
- SIGTERM / SIGINT while an index build waits: exit 3 within seconds, the
  statement is cancelled on the server (no migrate session left running,
  the lock free), and a rerun finishes the index.
- SIGTERM while the proxy is frozen: exit 3 in seconds, not after the
  network bound.
- every session has TCP keepalives (idle --network-timeout).
- connect_timeout in the URL is honoured (a listener that accepts and
  never answers), and --network-timeout is the default when it is not set.

What "an index build waits" means differs by database, and so does the way
a test makes it wait: PostgreSQL's CREATE INDEX CONCURRENTLY waits for an
older snapshot (a REPEATABLE READ transaction that holds no lock on the
table, so the blocker check lets expand start); MariaDB's ALTER waits for
the table's metadata lock, held by an open transaction that read the table
(so expand is given a long --lock-timeout and --max-tx-age).

PostgreSQL only (libpq's options, or Linux plumbing only written for it):
the default bound of a frozen proxy; a link taken down (migrate in a
network namespace, its veth set down) mid-backfill; SIGINT while a step
waits for a table lock; a second signal exits at once and the server ends
the orphaned build by itself (client_connection_check_interval);
PGCONNECT_TIMEOUT and libpq's URL keepalive parameters. MariaDB only: a
bad connect_timeout in the URL is bad input (the mysql driver parses it).
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from harness.env import _clean_env, _free_port
from harness.result import Watch, _CheckedPopen

MARKER = "_migrate_1"
# rows of the tests that fault a running backfill (--batch-size 500, --sleep
# 10): the fault comes after 3000 rows, with 190+ batches (2 s or more)
# still to go; the rerun copies the rest, most of these tests' time
ROWS = 100000

ALTER = {
    "pg": """
description: n becomes a bigint
operations:
  - alter_column:
      table: items
      column: n
      to: n_big
      type: bigint
      up: "n::bigint * 2 + 1"
      down: "((n_big - 1) / 2)::integer"
""",
    "mysql": """
description: n becomes a bigint
operations:
  - alter_column:
      table: items
      column: n
      to: n_big
      type: bigint
      up: "CAST(n AS SIGNED) * 2 + 1"
      down: "CAST((n_big - 1) / 2 AS SIGNED)"
"""}

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

# expand's options while its index build waits: on MariaDB the ALTER waits
# for a metadata lock, which must not time out first. --lock-timeout is
# also how long migrate first tries the ALTER without waiting (drivers/
# mysql/runner.c, done_without_waiting) before the try that waits, so it
# is waited out in full before the build waits: 5 s, not 20 s, keeps the
# wait longer than each test needs (a signal or a freeze comes within
# about 0.1 s of the wait starting) and saves 15 s per test.
WAIT_ARGS = {"pg": [], "mysql": ["--lock-timeout", "5000", "--max-tx-age", "3600"]}
# test_silent_index_build_is_not_given_up: the ALTER must stay silent for
# the 3.5 s the test watches it, with room to spare
SILENT_WAIT_ARGS = {"pg": [], "mysql": ["--lock-timeout", "8000", "--max-tx-age", "3600"]}


class Proxy:
    """socat between migrate and the server, in its own process group so
    that the listener and every per-connection child freeze together."""

    def __init__(self, target):
        self.target = target
        target_port = target.server.port
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
        return self.target.url_with_port(db, self.port)

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
def proxy(target):
    p = Proxy(target)
    try:
        yield p
    finally:
        p.close()


def make_items(target, n):
    if target.is_pg:
        target.execute("CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL,"
                       " label text)")
        target.execute("INSERT INTO items SELECT g, g %% 1000, 'v' || g"
                       " FROM generate_series(1, %d) g" % n)
        target.execute("CREATE TABLE other (id int)")
        target.execute("ANALYZE items")
    else:
        target.execute("CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL,"
                       " label varchar(40))")
        target.execute("INSERT INTO items SELECT seq, seq % 1000, CONCAT('v', seq)"
                       f" FROM seq_1_to_{n}")


def copied(db):
    return db.query("SELECT count(*) FROM items WHERE %s <> 0" % MARKER)[0][0]


def mysql_sessions(db, running_only):
    """migrate's sessions (running a statement only, or every one: its
    GET_LOCK lock lives as long as its session), as the server sees them."""
    return db.admin_query(
        "SELECT p.id, p.command, p.state, p.info FROM information_schema.processlist p"
        " JOIN performance_schema.session_connect_attrs a"
        "   ON a.processlist_id = p.id AND a.attr_name = 'program_name'"
        " WHERE a.attr_value LIKE 'migrate%'"
        + (" AND p.command <> 'Sleep'" if running_only else ""))


def left_on_server(target, db):
    """What migrate left on the server: PostgreSQL: sessions still running
    a statement, and advisory locks; MariaDB: any session at all."""
    if target.is_mysql:
        return mysql_sessions(db, running_only=False)
    with db.admin() as c:
        running = c.execute(
            "SELECT pid, application_name, state, query FROM pg_stat_activity"
            " WHERE application_name LIKE 'migrate%%' AND state <> 'idle'").fetchall()
        locks = c.execute("SELECT count(*) FROM pg_locks"
                          " WHERE locktype = 'advisory'").fetchone()[0]
    return running + (["%d advisory locks" % locks] if locks else [])


def wait_server_clean(target, db, timeout=10):
    """Until nothing of migrate's is left on the server (a backend ends
    just after its client goes)."""
    deadline = time.monotonic() + timeout
    while True:
        left = left_on_server(target, db)
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError("left on the server: %r" % (left,))
        time.sleep(0.1)


def wait_for_query(db, pattern, timeout=30):
    """PostgreSQL: until a migrate session runs a statement matching the
    LIKE pattern."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = db.admin().execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'migrate%%'"
            " AND state = 'active' AND query LIKE %s", (pattern,)).fetchall()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("no migrate session ran %s" % pattern)


def block_index_build(target, db):
    """A transaction that makes expand's index build wait until it ends
    (see the module's docstring)."""
    if target.is_pg:
        c = db.connect(autocommit=False, application_name="pytest-snapshot")
        c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        c.execute("SELECT count(*) FROM other")
        return c
    c = db.connect(program_name="pytest-holder")
    c.autocommit(False)
    with c.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT COUNT(*) FROM items")
    return c


def wait_index_build_waits(target, db, timeout=30):
    """Until migrate's index build waits for block_index_build()."""
    if target.is_pg:
        return wait_for_query(db, "CREATE INDEX CONCURRENTLY%", timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [r for r in mysql_sessions(db, running_only=True)
               if (r[3] or "").startswith("ALTER") and "metadata lock" in (r[2] or "")]
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("no migrate ALTER waited for a metadata lock: %r"
                         % mysql_sessions(db, running_only=True))


def assert_all_copied(target, n):
    assert target.query("SELECT count(*) FROM items")[0][0] == n
    if target.is_pg:
        bad = target.query("SELECT id FROM items WHERE n_big IS DISTINCT FROM"
                           " (id %% 1000) * 2 + 1 OR %s <> 1 LIMIT 5" % MARKER)
    else:
        bad = target.query(f"SELECT id FROM items WHERE NOT (n_big <=> n * 2 + 1)"
                           f" OR `{MARKER}` <> 1 LIMIT 5")
    assert list(bad) == [], bad


def index_ready(target):
    """The index exists and can be used (PostgreSQL: valid; a cancelled
    CREATE INDEX CONCURRENTLY leaves an invalid one)."""
    if target.is_pg:
        return target.query(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE c.relname = 'items_n_idx'") == [(True,)]
    return target.query("SELECT COUNT(*) FROM information_schema.statistics"
                        " WHERE table_schema = DATABASE() AND table_name = 'items'"
                        " AND index_name = 'items_n_idx'")[0][0] > 0


# --------------------------------------------------------------------------
# 1. a frozen proxy


def backfill_until_fault(target, start, fault, what, bound, n=None):
    """Expand, start a backfill with start(), apply fault() once 3000 rows
    are copied, and check that migrate gives up within bound seconds with
    exit 3. Returns (seconds after the fault, the Watch)."""
    n = n or ROWS
    project = target.project
    make_items(target, n)
    project.write("0001_alter_n.yaml", ALTER[target.kind])
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


def frozen_backfill(target, proxy, extra, bound):
    n = ROWS
    project = target.project
    took, w = backfill_until_fault(
        target, lambda: project.popen("-d", proxy.url(project.db), *extra, "backfill",
                                      "--batch-size", "500", "--sleep", "10"),
        proxy.freeze, "the freeze", bound, n)
    assert "hint:" in w.err and "run the same command again" in w.err, w.err
    proxy.close()
    wait_server_clean(target, project.db)
    project.ok("backfill")
    assert_all_copied(target, n)
    return took


# the bound on giving up with a 1.5 s --network-timeout: each of the two
# files merged here had its own (PostgreSQL 12 s, MariaDB 15 s); kept
FROZEN_BOUND = {"pg": 12, "mysql": 15}


def test_frozen_proxy_mid_backfill_gives_up_within_network_timeout(target, proxy):
    took = frozen_backfill(target, proxy, ["--network-timeout", "1500"],
                           FROZEN_BOUND[target.kind])
    assert took >= 1.4, took


@pytest.mark.targets("postgres")
def test_frozen_proxy_mid_backfill_default_bound(target, proxy):
    frozen_backfill(target, proxy, [], 60)


def test_sigterm_while_the_proxy_is_frozen(target, proxy):
    """The default bound is long (about 20 s); a signal does not wait for
    it: the cancel request (PostgreSQL) or KILL QUERY (MariaDB) cannot get
    through either, and is given up after a few seconds."""
    n = ROWS
    project = target.project
    make_items(target, n)
    project.write("0001_alter_n.yaml", ALTER[target.kind])
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
    wait_server_clean(target, project.db)
    project.ok("backfill")
    assert_all_copied(target, n)


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
def netns(target):
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root (scripts/test.sh runs as root)")
    n = Netns(target.server.port)
    try:
        yield n
    finally:
        n.close()


@pytest.mark.targets("postgres")
@pytest.mark.parametrize("extra, bound", [(["--network-timeout", "2000"], 12), ([], 60)])
def test_link_down_mid_backfill(target, netns, extra, bound):
    n = ROWS
    project = target.project
    backfill_until_fault(
        target, lambda: netns.popen(project, "-d", netns.url(project.db), *extra,
                                    "backfill", "--batch-size", "500", "--sleep", "10"),
        netns.link_down, "the link went down", bound, n)
    netns.close()       # the server's side of the sessions ends with socat
    wait_server_clean(target, project.db)
    project.ok("backfill")
    assert_all_copied(target, n)


def test_frozen_proxy_while_index_build_waits(target, proxy):
    project = target.project
    make_items(target, 1000)
    project.write("0001_index.yaml", INDEX)
    blocker = block_index_build(target, project.db)
    w = Watch(project.popen("-d", proxy.url(project.db), "--network-timeout", "1500",
                            "expand", *WAIT_ARGS[target.kind]))
    try:
        wait_index_build_waits(target, project.db)
        proxy.freeze()
        t0 = time.monotonic()
        rc = w.finish(timeout=60)
        took = time.monotonic() - t0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 3, w.err
    assert took < 15, "gave up after %.1f s\n%s" % (took, w.err)
    blocker.rollback()
    proxy.close()
    wait_server_clean(target, project.db)
    project.ok("expand")
    assert index_ready(target)


def test_silent_index_build_is_not_given_up(target):
    """Waiting for 3x --network-timeout: the second connection sees the
    build running, so migrate keeps waiting."""
    project = target.project
    make_items(target, 1000)
    project.write("0001_index.yaml", INDEX)
    blocker = block_index_build(target, project.db)
    w = Watch(project.popen("--network-timeout", "1000", "expand",
                            *SILENT_WAIT_ARGS[target.kind]))
    try:
        wait_index_build_waits(target, project.db)
        time.sleep(3.5)
        assert w.p.poll() is None, w.err
        blocker.rollback()
        rc = w.finish(timeout=60)
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert rc == 0, w.err
    assert index_ready(target)


# --------------------------------------------------------------------------
# 2. signals end every phase promptly and leave nothing running


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_index_build_cancels_it(target, sig):
    project = target.project
    make_items(target, 1000)
    project.write("0001_index.yaml", INDEX)
    blocker = block_index_build(target, project.db)
    w = Watch(project.popen("expand", *WAIT_ARGS[target.kind]))
    try:
        wait_index_build_waits(target, project.db)
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
    wait_server_clean(target, project.db, timeout=3)
    if target.is_mysql:
        # the killed ALTER left no index; a cancelled CREATE INDEX
        # CONCURRENTLY leaves an invalid one behind, which the rerun redoes
        assert not index_ready(target)
    blocker.rollback()
    project.ok("expand")
    assert index_ready(target)


@pytest.mark.targets("postgres")
def test_sigint_while_waiting_for_a_table_lock(target):
    project = target.project
    make_items(target, 100)
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
    wait_server_clean(target, project.db, timeout=3)
    assert "note" not in [r[0] for r in project.db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'")]
    holder.rollback()
    project.ok("expand")


@pytest.mark.targets("postgres")
def test_second_signal_exits_at_once(target):
    project = target.project
    make_items(target, 1000)
    project.write("0001_index.yaml", INDEX)
    blocker = block_index_build(target, project.db)
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
        wait_server_clean(target, project.db, timeout=8)
    finally:
        if w.p.poll() is None:
            w.p.kill()
        blocker.rollback()
    project.ok("expand")
    assert index_ready(target)


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


# (URL suffix, lowest and highest seconds left on the keepalive timer).
# Connector/C has no keepalive option: the mysql driver sets SO_KEEPALIVE
# and its idle time (--network-timeout) on the socket itself, and its URL
# has no keepalive parameter to win.
KEEPALIVE_CASES = {
    "pg": [("", 0, 4),                          # the default: --network-timeout
           ("?keepalives_idle=77", 60, 77)],    # the URL's own value wins
    "mysql": [("", 0, 4)],
}


@pytest.mark.target_cases("keepalive", KEEPALIVE_CASES)
def test_keepalives_by_default_and_the_url_wins(target, keepalive):
    url_extra, low, high = keepalive
    project = target.project
    make_items(target, 100)
    project.write("0001_index.yaml", INDEX)
    blocker = block_index_build(target, project.db)
    w = Watch(project.popen("-d", project.db.url + url_extra, "--network-timeout", "4000",
                            "expand", *WAIT_ARGS[target.kind]))
    try:
        wait_index_build_waits(target, project.db)
        time.sleep(0.5)
        timers = keepalive_timers(w.p.pid, project.db.server.port)
        assert timers and all(t is not None and low <= t <= high for t, _ in timers), timers
    finally:
        blocker.rollback()
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


def test_connect_timeout_in_url_is_honoured(target, silent_listener):
    project = target.project
    url = target.url_with_port(project.db, silent_listener)
    r, took = timed(project, "-d", url + "?connect_timeout=2", "status")
    assert r.rc == 3, r.describe()
    assert 1.5 < took < 6, took
    if target.is_pg:
        assert "cannot connect" in r.err, r.describe()
        # longer than libpq's default 10 s is honoured too
        r, took = timed(project, "-d", url + "?connect_timeout=12", "status")
        assert r.rc == 3 and 11.5 < took < 17, (took, r.describe())


@pytest.mark.targets("postgres")
def test_pgconnect_timeout_is_honoured(target, silent_listener):
    project = target.project
    url = target.url_with_port(project.db, silent_listener)
    r, took = timed(project, "-d", url, "status", env={"PGCONNECT_TIMEOUT": "2"})
    assert r.rc == 3 and 1.5 < took < 6, (took, r.describe())


# the upper bound on a 3 s connect: each of the two files merged here had
# its own (PostgreSQL 7 s, MariaDB 8 s); kept
DEFAULT_CONNECT_BOUND = {"pg": 7, "mysql": 8}


def test_network_timeout_is_the_default_connect_timeout(target, silent_listener):
    project = target.project
    url = target.url_with_port(project.db, silent_listener)
    r, took = timed(project, "-d", url, "--network-timeout", "3000", "status")
    assert r.rc == 3 and 2.5 < took < DEFAULT_CONNECT_BOUND[target.kind], (took, r.describe())


@pytest.mark.targets("postgres")
def test_url_keepalive_parameters_win(target):
    """keepalives and tcp_user_timeout from the URL reach the connection
    (the server sees the client's choice on its side of the socket only
    for keepalives, so this checks that migrate still connects with them
    and that a bad one is the URL's own error, not overridden)."""
    project = target.project
    make_items(target, 10)
    url = project.db.url + "?keepalives=0&tcp_user_timeout=1234&connect_timeout=3"
    project.ok("-d", url, "status")
    r = project.run("-d", project.db.url + "?tcp_user_timeout=notanumber", "status")
    assert r.rc == 3, r.describe()   # the URL's value reached libpq


@pytest.mark.targets("postgres")
def test_bad_network_timeout_is_input_error(target):
    project = target.project
    r = project.run("--network-timeout", "5", "status")
    assert r.rc == 2 and "--network-timeout" in r.err, r.describe()


@pytest.mark.targets("mariadb")
@pytest.mark.parametrize("value", ["", "0", "x", "-1", "99999999999"])
def test_bad_connect_timeout_is_input_error(target, value):
    project = target.project
    r = project.run("-d", project.db.url + "?connect_timeout=" + value, "status")
    assert r.rc == 2 and "connect_timeout" in r.err, r.describe()
