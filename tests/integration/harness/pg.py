"""PostgreSQL: a real server started for the test run (initdb in a
temporary directory, a free loopback port, a unix socket in that directory),
and a fresh database per test owned by the non-superuser role `app`.
PostgreSQL refuses to run as root, so when the tests run as root the server
runs as Debian's `postgres` user (via runuser)."""

import hashlib
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

try:
    import psycopg
except ImportError:  # pragma: no cover - environment problem, say how to fix
    raise SystemExit(
        "psycopg 3 is missing: apt-get install -y python3-psycopg "
        "(run the tests with /usr/bin/python3)")

from harness.env import _clean_env, _free_port, _is_root
from harness.secrets import APP_PASSWORD, APP_USER

PG_OS_USER = "postgres"


def _find_bindir():
    base = Path("/usr/lib/postgresql")
    cands = []
    if base.is_dir():
        for d in base.iterdir():
            b = d / "bin"
            if (b / "initdb").exists() and (b / "pg_ctl").exists():
                try:
                    ver = tuple(int(x) for x in d.name.split("."))
                except ValueError:
                    ver = (0,)
                cands.append((ver, b))
    if not cands:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin.\n"
            "Install them with:  apt-get install -y postgresql postgresql-contrib",
            pytrace=False)
    cands.sort()
    return cands[-1][1]


INITDB_ARGS = ("-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
               "--auth-local=trust", "--auth-host=scram-sha-256")


def _copy_tree(src, dst):
    """cp -a (owner and modes kept: the postgres user's 0700 cluster)."""
    return subprocess.run(["cp", "-a", str(src), str(dst)], stdin=subprocess.DEVNULL,
                          capture_output=True).returncode == 0


# --------------------------------------------------------------------------
# the server


class PgServer:
    # what _start_on_free_port's error names; how _write_settings opens the file
    server_label = "PostgreSQL"
    settings_mode = "w"

    def __init__(self):
        self.bindir = _find_bindir()
        self.host = "127.0.0.1"
        self.port = None
        self.root = None
        self.socket_dir = None
        self.datadir = None
        self.logfile = None
        self.start_seconds = None
        self._counter = itertools.count(1)
        self._as_user = None
        if _is_root():
            try:
                pw = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                pytest.fail(
                    "running as root but the OS user 'postgres' does not exist; "
                    "it comes with the server package: apt-get install -y postgresql",
                    pytrace=False)
            self._as_user = pw

    # -- running server programs as the right OS user
    def _cmd(self, prog, *args):
        cmd = [str(self.bindir / prog), *map(str, args)]
        if self._as_user is not None:
            cmd = ["runuser", "-u", PG_OS_USER, "--", *cmd]
        return cmd

    def _run(self, prog, *args, timeout=120, check=True):
        # cwd: the server's own directory (root's cwd may be unreadable for
        # the postgres user, which makes initdb/pg_ctl complain).
        p = subprocess.run(self._cmd(prog, *args), cwd=self.root,
                           env=_clean_env({"LC_ALL": "C.UTF-8"}),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (exit %d):\n%s%s" % (
                prog, p.returncode, p.stdout, self._log_tail()))
        return p

    def _log_tail(self, n=60):
        try:
            lines = Path(self.logfile).read_text(errors="replace").splitlines()
        except (OSError, TypeError):
            return ""
        return "\n--- server log (tail) ---\n" + "\n".join(lines[-n:]) + "\n"

    def _chown(self, path):
        if self._as_user is not None:
            os.chown(path, self._as_user.pw_uid, self._as_user.pw_gid)

    def _tmp_base(self):
        base = tempfile.gettempdir()
        if self._as_user is not None:
            # every parent must be traversable by the postgres user
            p = Path(base).resolve()
            for part in [p, *p.parents]:
                if not (os.stat(part).st_mode & 0o001):
                    return "/tmp"
        return base

    def start(self):
        t0 = time.monotonic()
        self._make_root("migrate-pg-")
        self._init_datadir()
        hba = os.path.join(self.datadir, "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("# written by tests/integration/harness/pg.py\n"
                    "local all all trust\n"
                    "host  all all 127.0.0.1/32 scram-sha-256\n")
        self._chown(hba)
        self._start_on_free_port()
        with self.admin() as c:
            c.execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}' "
                      "NOSUPERUSER NOCREATEDB NOCREATEROLE")
        self.start_seconds = time.monotonic() - t0

    def _make_root(self, prefix):
        """A fresh directory of the server's own (its socket, its data
        directory and its log), which the postgres user may enter."""
        self.root = tempfile.mkdtemp(prefix=prefix, dir=self._tmp_base())
        os.chmod(self.root, 0o755)
        self._chown(self.root)
        self.socket_dir = self.root
        self.datadir = os.path.join(self.root, "data")
        self.logfile = os.path.join(self.root, "server.log")

    def _settings(self):
        """postgresql.auto.conf's text for this server on self.port."""
        return textwrap.dedent(f"""\
            # written by tests/integration/harness/pg.py
            port = {self.port}
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '{self.socket_dir}'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 200
            password_encryption = 'scram-sha-256'
            log_min_messages = warning
            log_line_prefix = '%m [%p] %a '
            """)

    def _write_settings(self):
        """The one place a server's settings are written: _settings() into
        postgresql.auto.conf, opened with settings_mode."""
        conf = os.path.join(self.datadir, "postgresql.auto.conf")
        with open(conf, self.settings_mode) as f:
            f.write(self._settings())
        self._chown(conf)

    def _start_on_free_port(self):
        """Pick a free port, write the settings, `pg_ctl start`; on failure
        (most likely the port was taken between probing and binding) stop
        whatever started and try another port, five tries in all."""
        last = None
        for _attempt in range(5):
            self.port = _free_port()
            self._write_settings()
            p = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", self.datadir,
                          "-l", self.logfile, timeout=90, check=False)
            if p.returncode == 0:
                return
            last = p.stdout + self._log_tail()
            self._run("pg_ctl", "stop", "-m", "immediate", "-D", self.datadir,
                      check=False)
        raise RuntimeError(f"could not start {self.server_label}:\n" + (last or ""))

    def _init_datadir(self):
        """initdb into self.datadir. With MG_SERVER_TEMPLATES naming a
        directory (ctest sets it to one in the build tree), the first server
        keeps a copy of the fresh cluster there, under a key naming the
        server's version, the OS user and initdb's arguments, and later
        servers copy it instead of running initdb again: the same files,
        without initdb's seconds once per test file. The copy is published
        by a rename, so a server starting beside it sees a whole template
        or none; keeping it is an optimisation, so failing to is not an
        error."""
        cache = os.environ.get("MG_SERVER_TEMPLATES")
        template = None
        if cache:
            version = subprocess.run([str(self.bindir / "initdb"), "--version"],
                                     capture_output=True, text=True).stdout
            uid = self._as_user.pw_uid if self._as_user else os.geteuid()
            key = hashlib.sha256(repr((version, uid, INITDB_ARGS)).encode()).hexdigest()[:16]
            template = Path(cache) / f"pg-{key}"
            if (template / "data").is_dir() and _copy_tree(template / "data", self.datadir):
                return
            shutil.rmtree(self.datadir, ignore_errors=True)
        self._run("initdb", "-D", self.datadir, *INITDB_ARGS)
        if template is None:
            return
        tmp = Path(cache) / f".pg-{key}.{os.getpid()}"
        try:
            tmp.mkdir(parents=True)
            if _copy_tree(self.datadir, tmp / "data"):
                os.rename(tmp, template)    # fails if another start won
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)

    def stop(self):
        if self.datadir and os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            p = self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D",
                          self.datadir, timeout=60, check=False)
            if p.returncode != 0:
                self._kill_postmaster()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self):
        """Stop the server (fast: every session is ended) and start it
        again on the same port and data."""
        self._run("pg_ctl", "restart", "-m", "fast", "-w", "-t", "60", "-D",
                  self.datadir, "-l", self.logfile, timeout=90)

    def _kill_postmaster(self):
        try:
            pid = int(Path(self.datadir, "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    # -- connections
    def admin_dsn(self, dbname="postgres"):
        return (f"host={self.socket_dir} port={self.port} user=postgres "
                f"dbname={dbname} application_name=pytest-admin")

    def admin(self, dbname="postgres"):
        return psycopg.connect(self.admin_dsn(dbname), autocommit=True,
                               prepare_threshold=None)

    def new_database(self, label="db"):
        label = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")[:30] or "db"
        name = f"t{next(self._counter)}_{label}_{uuid.uuid4().hex[:6]}"
        with self.admin() as c:
            c.execute(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        with self.admin(name) as c:
            c.execute(f"ALTER SCHEMA public OWNER TO {APP_USER}")
            c.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {APP_USER}")
        return Database(self, name)


class Database:
    kind = "pg"     # as Target.kind: what code written for both servers tests

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.url = (f"postgresql://{APP_USER}:{APP_PASSWORD}@{server.host}:"
                    f"{server.port}/{name}")
        self._conns = []
        self._qconn = None

    def connect(self, autocommit=True, application_name=None):
        """A psycopg connection as `app` over TCP (like the tool's)."""
        c = psycopg.connect(host=self.server.host, port=self.server.port,
                            user=APP_USER, password=APP_PASSWORD,
                            dbname=self.name, autocommit=autocommit,
                            application_name=application_name or "pytest-app",
                            prepare_threshold=None)
        self._conns.append(c)
        return c

    def admin(self):
        """A superuser connection to this database (autocommit)."""
        c = self.server.admin(self.name)
        self._conns.append(c)
        return c

    def _q(self):
        if self._qconn is None or self._qconn.closed or self._qconn.broken:
            self._qconn = self.connect(application_name="pytest-query")
        return self._qconn

    def query(self, sql, params=None):
        """Run one statement as app; the rows as a list of tuples."""
        cur = self._q().execute(sql, params)
        return cur.fetchall() if cur.description is not None else []

    def execute(self, sql, params=None):
        self._q().execute(sql, params)

    def history_rows(self):
        """Rows in public._migrate_history (0 when the table does not exist)."""
        with self.server.admin(self.name) as c:
            if c.execute("SELECT to_regclass('public._migrate_history')").fetchone()[0] is None:
                return 0
            return c.execute("SELECT count(*) FROM public._migrate_history").fetchone()[0]

    def snapshot(self):
        """The user-visible catalog, to compare before/after (the tool's own
        _migrate_history table is left out)."""
        own = "'\\_migrate\\_history%'"
        q = {
            "columns": f"""
                SELECT table_schema, table_name, column_name, data_type,
                       is_nullable, column_default, collation_name
                  FROM information_schema.columns
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                   AND table_name NOT LIKE {own}
                 ORDER BY 1, 2, ordinal_position""",
            "tables": f"""
                SELECT table_schema, table_name, table_type
                  FROM information_schema.tables
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                   AND table_name NOT LIKE {own}
                 ORDER BY 1, 2""",
            "triggers": """
                SELECT tgrelid::regclass::text, tgname, tgenabled
                  FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2""",
            "indexes": f"""
                SELECT schemaname, tablename, indexname, indexdef
                  FROM pg_indexes
                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
                   AND tablename NOT LIKE {own}
                 ORDER BY 1, 2, 3""",
            "constraints": f"""
                SELECT conrelid::regclass::text, conname, contype, convalidated,
                       pg_get_constraintdef(oid)
                  FROM pg_constraint
                 WHERE connamespace NOT IN ('pg_catalog'::regnamespace,
                                            'information_schema'::regnamespace)
                   AND conrelid <> 0
                   AND conrelid::regclass::text NOT LIKE {own}
                 ORDER BY 1, 2""",
            "functions": """
                SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                 ORDER BY 1, 2, 3""",
        }
        with self.server.admin(self.name) as c:
            return {k: c.execute(v).fetchall() for k, v in q.items()}

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
            with self.server.admin() as c:
                c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()",
                          (self.name,))
                c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except Exception as e:  # tolerated: the whole server goes away anyway
            print(f"warning: could not drop database {self.name}: {e}")
