"""MariaDB: a real server for the mysql driver's tests, started by
tests/mariadb_server.sh (the same script a developer can run by hand) only
when a test asks for it, and a fresh database per test."""

import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.env import _clean_env
from harness.secrets import (APP_USER, MYSQL_APP_PASSWORD, MYSQL_APP_PASSWORD_URL,
                             MYSQL_LOW_PASSWORD, MYSQL_LOW_USER)

MARIADB_SCRIPT = Path(__file__).resolve().parent.parent.parent / "mariadb_server.sh"

# information_schema.INNODB_TRX (InnoDB's trx_i_s cache, MariaDB and MySQL
# alike) is refilled by a read only when no read came in the 0.1 s before
# it: a test that polls it faster sees one moment for good. Poll it this
# slowly.
INNODB_TRX_POLL_S = 0.12

def _pymysql():
    try:
        import pymysql
    except ImportError:
        pytest.fail("PyMySQL is missing: apt-get install -y python3-pymysql "
                    "(run the tests with /usr/bin/python3)", pytrace=False)
    return pymysql


def _mysql_grant_db(name):
    """A database name as GRANT takes it: '_' and '%' are wildcards there."""
    return "`" + name.replace("_", "\\_").replace("%", "\\%") + "`"


class MariaDbServer:
    def __init__(self, options=()):
        """options: extra mariadbd options (tests/mariadb_server.sh)."""
        self.options = list(options)
        self.pymysql = _pymysql()
        self.host = "127.0.0.1"
        self.port = None
        self.socket = None
        self.url = None
        self.version = None
        self.root = None
        self.dir = None
        self.start_seconds = None
        self._counter = itertools.count(1)

    def _script(self, action, timeout):
        extra = self.options if action == "start" else []
        return subprocess.run(["sh", str(MARIADB_SCRIPT), action, self.dir, *extra],
                              env=_clean_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", timeout=timeout)

    def start(self):
        t0 = time.monotonic()
        self.root = tempfile.mkdtemp(prefix="migrate-mdb-")
        self.dir = os.path.join(self.root, "server")
        p = self._script("start", timeout=240)
        if p.returncode != 0:
            raise RuntimeError(f"{MARIADB_SCRIPT} start failed (exit "
                               f"{p.returncode}):\n{p.stdout}")
        d = Path(self.dir)
        self.port = int((d / "port").read_text().strip())
        self.socket = (d / "socket").read_text().strip()
        self.url = (d / "url").read_text().strip()
        with self.admin() as c, c.cursor() as cur:
            cur.execute("SELECT VERSION(), @@performance_schema")
            self.version, ps = cur.fetchone()
            if int(ps) != 1:
                raise RuntimeError("performance_schema is off on the test server")
            # '%%': pymysql formats the statement when arguments are given
            cur.execute(f"CREATE USER '{APP_USER}'@'%%' IDENTIFIED BY %s",
                        (MYSQL_APP_PASSWORD,))
            cur.execute(f"CREATE USER '{MYSQL_LOW_USER}'@'%%' IDENTIFIED BY %s",
                        (MYSQL_LOW_PASSWORD,))
        self.start_seconds = time.monotonic() - t0

    def stop(self):
        if self.dir:
            try:
                p = self._script("stop", timeout=120)
                if p.returncode != 0:
                    print(f"warning: {MARIADB_SCRIPT} stop failed:\n{p.stdout}")
            except subprocess.TimeoutExpired:
                print(f"warning: {MARIADB_SCRIPT} stop timed out")
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self):
        """Shut the server down (SIGTERM: a clean shutdown that ends every
        session) and start the same mariadbd again: same port, data and
        options, its command line read from /proc."""
        d = Path(self.dir)
        root = Path((d / "root").read_text().strip()) if (d / "root").exists() else d
        pid = int((root / "mariadbd.pid").read_text().split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists():
            state = Path(f"/proc/{pid}/status").read_text(errors="replace")
            if "\nState:\tZ" in state:
                break
            assert time.monotonic() < deadline, "mariadbd did not shut down"
            time.sleep(0.05)
        with open(root / "server.log", "ab") as log:
            self._restarted = subprocess.Popen(
                argv, cwd=str(root), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            try:
                self.admin().close()
                return
            except Exception:
                if time.monotonic() > deadline or self._restarted.poll() is not None:
                    raise
                time.sleep(0.1)

    def admin(self, database=None):
        """A root connection over the unix socket (autocommit)."""
        return self.pymysql.connect(unix_socket=self.socket, user="root",
                                    password="", database=database,
                                    autocommit=True, charset="utf8mb4",
                                    program_name="pytest-admin")

    def url_for(self, user, password, database, host=None, port=None):
        """mysql://user:password@host:port/database, the password encoded."""
        cred = quote(user, safe="")
        if password is not None:
            cred += ":" + quote(password, safe="")
        return (f"mysql://{cred}@{host or self.host}:{port or self.port}/"
                f"{quote(database, safe='')}")

    def new_database(self, label="db"):
        label = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")[:30] or "db"
        name = f"t{next(self._counter)}_{label}_{uuid.uuid4().hex[:6]}"
        with self.admin() as c, c.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"GRANT ALL PRIVILEGES ON {_mysql_grant_db(name)}.* "
                        f"TO '{APP_USER}'@'%'")
            cur.execute(f"GRANT SELECT ON {_mysql_grant_db(name)}.* "
                        f"TO '{MYSQL_LOW_USER}'@'%'")
        return MysqlDatabase(self, name)


class MysqlDatabase:
    kind = "mysql"  # as Target.kind: what code written for both servers tests

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.url = server.url_for(APP_USER, MYSQL_APP_PASSWORD, name)
        self.socket_url = (f"mysql://{APP_USER}:{MYSQL_APP_PASSWORD_URL}@localhost/"
                           f"{name}?socket={quote(server.socket, safe='/')}")
        self._conns = []
        self._qconn = None
        self._users = []
        self._grants = []

    def url_for(self, user=APP_USER, password=MYSQL_APP_PASSWORD, **kw):
        return self.server.url_for(user, password, self.name, **kw)

    def connect(self, user=APP_USER, password=None, program_name="pytest-app",
                database=True, autocommit=True, application_name=None):
        """A pymysql connection over TCP (autocommit unless told). program_name
        is sent as the connection attribute of that name (None: not sent);
        application_name is its other name, as Database.connect takes it, so
        code written for both servers (writers.Writer) connects the same way."""
        if application_name is not None:
            program_name = application_name
        if password is None:
            password = {APP_USER: MYSQL_APP_PASSWORD,
                        MYSQL_LOW_USER: MYSQL_LOW_PASSWORD}.get(user, "")
        c = self.server.pymysql.connect(
            host=self.server.host, port=self.server.port, user=user,
            password=password, database=self.name if database else None,
            autocommit=autocommit, charset="utf8mb4", program_name=program_name)
        self._conns.append(c)
        return c

    def admin(self):
        """A root connection to this database (autocommit)."""
        c = self.server.admin(self.name)
        self._conns.append(c)
        return c

    def _q(self):
        if self._qconn is None or not self._qconn.open:
            self._qconn = self.connect(program_name="pytest-query")
        return self._qconn

    def query(self, sql, params=None):
        """Run one statement as app; the rows as a list of tuples."""
        with self._q().cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def execute(self, sql, params=None):
        with self._q().cursor() as cur:
            cur.execute(sql, params)

    def admin_query(self, sql, params=None):
        with self.server.admin(self.name) as c, c.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def create_user(self, user, password, privileges="SELECT"):
        """A throwaway account with `privileges` on this database; dropped
        with the database."""
        self.admin_query(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        self._users.append(user)
        if privileges:
            self.admin_query(f"GRANT {privileges} ON {_mysql_grant_db(self.name)}.* "
                             f"TO '{user}'@'%'")

    def grant(self, privileges, on, user=APP_USER):
        """GRANT privileges ON `on` TO user (server-wide for a server-wide
        user such as app: revoked again when the database is dropped)."""
        self.admin_query(f"GRANT {privileges} ON {on} TO '{user}'@'%'")
        self._grants.append((privileges, on, user))

    def grant_session_visibility(self, user=APP_USER):
        """What a user needs to see other users' sessions and their
        program_name: PROCESS, and SELECT on performance_schema; and, to
        count them on the replicas too, to list the replicas (REPLICATION
        MASTER ADMIN: SHOW SLAVE HOSTS on a primary with a binary log)."""
        self.grant("PROCESS", "*.*", user)
        self.grant("SELECT", "performance_schema.*", user)
        self.grant("REPLICATION MASTER ADMIN", "*.*", user)

    def tables(self):
        """Names of the tables and views in this database, sorted."""
        return [r[0] for r in self.admin_query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s ORDER BY 1", (self.name,))]

    def history_rows(self):
        """Rows in _migrate_history of this database (0 when absent)."""
        if "_migrate_history" not in self.tables():
            return 0
        return self.admin_query(
            f"SELECT count(*) FROM `{self.name}`.`_migrate_history`")[0][0]

    def sessions(self):
        """(id, user, db, program_name) of every client session but the
        caller's own, from the server's point of view (root)."""
        return self.admin_query(
            "SELECT p.id, p.user, p.db, a.attr_value "
            "FROM information_schema.processlist p "
            "LEFT JOIN performance_schema.session_connect_attrs a "
            "  ON a.processlist_id = p.id AND a.attr_name = 'program_name' "
            "WHERE p.id <> CONNECTION_ID() AND p.command <> 'Daemon' "
            "ORDER BY p.id")

    def wait_gone(self, conn_id, timeout=10):
        """Wait until the server has forgotten session conn_id (a closed
        client's thread ends a moment after close())."""
        deadline = time.monotonic() + timeout
        while any(r[0] == conn_id for r in self.sessions()):
            assert time.monotonic() < deadline, (
                f"session {conn_id} still connected after {timeout}s")
            time.sleep(0.05)

    def close(self):
        for c in self._conns:
            try:
                c.close()
            except Exception:
                pass
        self._conns.clear()
        self._qconn = None

    def drop(self):
        self.close()
        try:
            with self.server.admin() as c, c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
                for privileges, on, user in reversed(self._grants):
                    if user not in self._users:
                        cur.execute(f"REVOKE {privileges} ON {on} FROM '{user}'@'%'")
                for u in self._users:
                    cur.execute(f"DROP USER IF EXISTS '{u}'@'%'")
        except Exception as e:  # tolerated: the whole server goes away anyway
            print(f"warning: could not drop database {self.name}: {e}")


# The planner's two SQL dialects: MariaDB's own, and the forms MySQL 8.0.29+
# accepts (which MariaDB accepts too), chosen on MariaDB by the test hook.
MYSQL_DIALECTS = {"mariadb": {}, "mysql8": {"MIGRATE_TEST_MYSQL_DIALECT": "1"}}
