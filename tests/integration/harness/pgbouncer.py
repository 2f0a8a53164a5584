"""A real PgBouncer (Debian's `pgbouncer`) in front of a PgServer, for the
tests of colours behind poolers (issue 17).

PgBouncer(server): listens on a free loopback port (no unix socket),
pool_mode = transaction, every database of the server (`* = host=127.0.0.1
port=...`), the application role `app` in auth_file (plain password,
SCRAM towards the client and the server) and in stats_users (what migrate
needs to read SHOW CLIENTS / SHOW DATABASES on the admin console). It runs
in the foreground as a child of pytest; PgBouncer refuses to run as root,
so as root it switches to the postgres OS user (-u). stop() ends it
(SIGTERM, then SIGKILL), start() again on the same port.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg

from .env import _clean_env, _free_port, _is_root
from .pg import PG_OS_USER
from .secrets import APP_PASSWORD, APP_USER


class PgBouncer:
    def __init__(self, server):
        self.server = server
        self.host = "127.0.0.1"
        self.port = None
        self.root = None
        self.proc = None
        self.logfile = None

    @property
    def name(self):
        """How migrate names it: host:port."""
        return f"{self.host}:{self.port}"

    def _write_config(self):
        ini = os.path.join(self.root, "pgbouncer.ini")
        users = os.path.join(self.root, "userlist.txt")
        with open(users, "w") as f:
            f.write(f'"{APP_USER}" "{APP_PASSWORD}"\n')
        with open(ini, "w") as f:
            f.write(f"""\
; written by tests/integration/harness/pgbouncer.py
[databases]
* = host=127.0.0.1 port={self.server.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {users}
stats_users = {APP_USER}
pool_mode = transaction
max_client_conn = 200
default_pool_size = 5
logfile = {self.logfile}
pidfile =
""")
        os.chmod(users, 0o644)
        return ini

    def start(self):
        self.root = tempfile.mkdtemp(prefix="migrate-pgbouncer-", dir=self.server._tmp_base())
        os.chmod(self.root, 0o755)
        self.logfile = os.path.join(self.root, "pgbouncer.log")
        self.port = _free_port()
        self._spawn()

    def _spawn(self):
        ini = self._write_config()
        if _is_root():
            self.server._chown(self.root)
        cmd = ["pgbouncer", ini] + (["-u", PG_OS_USER] if _is_root() else [])
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=_clean_env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pgbouncer did not start:\n" + self._log_tail())
            time.sleep(0.05)

    def _listening(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self, n=40):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except (OSError, TypeError):
            return ""

    def halt(self):
        """Stop it (its clients are cut off), keeping the port for resume()."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def resume(self):
        self._spawn()

    def stop(self):
        self.halt()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def connect(self, database, application_name):
        """A client of the pooler as app (autocommit: idle between
        statements, so in transaction mode it holds no server connection)."""
        return psycopg.connect(host=self.host, port=self.port, user=APP_USER,
                               password=APP_PASSWORD, dbname=database,
                               application_name=application_name, autocommit=True,
                               prepare_threshold=None)

    def admin(self):
        """The admin console as app (a stats user)."""
        return psycopg.connect(host=self.host, port=self.port, user=APP_USER,
                               password=APP_PASSWORD, dbname="pgbouncer",
                               autocommit=True, prepare_threshold=None)

    def show(self, what):
        with self.admin() as c:
            cur = c.execute(f"SHOW {what}")
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
