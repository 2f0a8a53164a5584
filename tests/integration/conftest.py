"""Integration-test harness: a real PostgreSQL started for the test run.

Design §9: never a mock of the database. One server per pytest process
(ctest runs one pytest process per test_*.py file, so `ctest -j` gives each
file its own server), initdb'd in a temporary directory, listening on a free
loopback port and on a unix socket inside that directory, stopped and removed
at the end. PostgreSQL refuses to run as root, so when the tests run as root
the server runs as Debian's `postgres` user (via runuser).

Fixtures (the API the scenario tests use; keep the names):

  pg_server  (session)  .host .port .socket_dir .bindir .datadir .logfile
                        .restart()  pg_ctl restart -m fast (same port)
                        .admin_dsn(dbname='postgres')  superuser over the socket
                        .admin(dbname='postgres')      psycopg connection (autocommit)
                        .new_database(label)           a Database (see db)
                        A non-superuser role `app` LOGIN PASSWORD 'secret-pw-1'
                        exists: the tool works as table owner only.
  db         (function) a fresh database owned by `app`:
                        .name .url .connect(autocommit=True, application_name=None)
                        .admin() .query(sql, params=None) .execute(sql, params=None)
                        .snapshot()  catalog snapshot (tables, columns, indexes,
                                     constraints, triggers, functions, views)
                        .history_rows()  rows of _migrate_history (0 if absent)
  project    (function) a migrations project in tmp_path bound to db:
                        .dir .migrations .state .db
                        .write(filename, text) -> Path (text is dedented)
                        .run(*args, env=None, timeout=120, fault=None) -> Result
                        .ok(*args, **kw)  .expect(code, *args, **kw)
                        .popen(*args, env=None)  .json(*args, **kw)
                        .run_raw(*args, env=None, cwd=None, timeout=120)
                          runs the binary with ONLY the given args (no -d/-m/--state)
  migrate_bin (session) path of the binary (env MIGRATE_BIN)
  make_project (function) factory: make_project(db, subdir) -> another Project
  users_project (function) project + table users(id bigserial pk, user_name
                        text not null, email text) with 5 rows and the migration
                        0001_rename_user_name.yaml (user_name -> username)

MariaDB (only started when a test uses these fixtures; the PostgreSQL test
files never start it):

  mariadb_server (session) a MariaDB of its own (tests/mariadb_server.sh in a
                        temporary directory, free loopback port, socket in
                        that directory, performance_schema on), stopped at
                        the end: .host .port .socket .version .url (root)
                        .admin(database=None)   pymysql connection as root
                        .restart()  shut down and start again (same port)
                        .new_database(label)    a MysqlDatabase (see mdb)
                        .create_user(name, password)  a throwaway account
                        Users (server-wide, like PostgreSQL's `app`):
                        `app` / MYSQL_APP_PASSWORD (characters that need
                        URL-encoding), granted ALL on each test database;
                        `lowpriv` / MYSQL_LOW_PASSWORD, SELECT only.
  mdb        (function) a fresh database: .name .url (app over TCP)
                        .socket_url (app over the unix socket)
                        .url_for(user, password, host=..., port=...)
                        .connect(user='app', password=None, program_name=None,
                                 database=True)  pymysql, autocommit
                        .admin()  root connection to this database
                        .query(sql, params=None)  .execute(sql, params=None)
                        .tables()  .history_rows()  .sessions()
                        .wait_gone(conn_id)
                        .create_user(name, password, privileges='SELECT')
                        .grant(privileges, on, user='app')
                        .grant_session_visibility(user='app')  PROCESS +
                          SELECT on performance_schema (revoked at the end)
  mysql_project (function) like `project`, bound to mdb (-d is mdb.url);
                        .dialect is "mariadb", or "mysql8" in the second
                        run of a test marked @pytest.mark.both_dialects:
                        that run sets MIGRATE_TEST_MYSQL_DIALECT=1 for every
                        migrate it starts, so the plans are the SQL written
                        for MySQL 8.0.29+ (run here on MariaDB);
                        MG_MYSQL_DIALECT=mysql8 in pytest's environment
                        makes every unmarked test run in that dialect

Result: .rc .out .err .args (+ .text = out + err). Every run asserts that the
password never appears in stdout or stderr (PostgreSQL's and MariaDB's,
raw and URL-encoded).
"""

import hashlib
import itertools
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

try:
    import psycopg
except ImportError:  # pragma: no cover - environment problem, say how to fix
    raise SystemExit(
        "psycopg 3 is missing: apt-get install -y python3-psycopg "
        "(run the tests with /usr/bin/python3)")

APP_USER = "app"
APP_PASSWORD = "secret-pw-1"
PG_OS_USER = "postgres"

# MariaDB: the application user's password needs URL-encoding in a
# mysql:// URL (':' '@' '/' '?' '#' '%' '+'); "s3cr" is a fragment of it
# that must never be printed either.
MYSQL_APP_PASSWORD = "My:s3cr@t/pw?#%+1"
MYSQL_APP_PASSWORD_URL = quote(MYSQL_APP_PASSWORD, safe="")
MYSQL_LOW_USER = "lowpriv"
MYSQL_LOW_PASSWORD = "low-pw-4"

# A password with every character a URL gives a meaning to, for the tests of
# mistyped URLs (test_url_secrets.py, test_mysql_url_secrets.py); "off-Zq"
# and "k3y" are fragments of it that libpq once quoted in its own errors.
TRICKY_PASSWORD = "50%off-Zq/k3y@r#t?x"

# Every run's stdout/stderr is checked for these.
SECRETS = (APP_PASSWORD, MYSQL_APP_PASSWORD, MYSQL_APP_PASSWORD_URL, "s3cr",
           TRICKY_PASSWORD, quote(TRICKY_PASSWORD, safe=""), "off-Zq", "k3y")

# Environment variables that would change what the binary, libpq or the
# MySQL/MariaDB client library does; removed from every child environment so
# the outer shell cannot leak in.
_STRIP_PREFIXES = ("MIGRATE_", "PG", "MYSQL_", "MARIADB_", "LIBMYSQL_")
_STRIP_NAMES = ("DATABASE_URL",)


def _clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_STRIP_PREFIXES) and k not in _STRIP_NAMES}
    env.setdefault("LC_ALL", "C.UTF-8")
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def _is_root():
    return os.geteuid() == 0


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


# --------------------------------------------------------------------------
# the server


class PgServer:
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
        self.root = tempfile.mkdtemp(prefix="migrate-pg-", dir=self._tmp_base())
        os.chmod(self.root, 0o755)
        self._chown(self.root)
        self.socket_dir = self.root
        self.datadir = os.path.join(self.root, "data")
        self.logfile = os.path.join(self.root, "server.log")

        self._run("initdb", "-D", self.datadir, "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
                  "--auth-local=trust", "--auth-host=scram-sha-256")
        hba = os.path.join(self.datadir, "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("# written by tests/integration/conftest.py\n"
                    "local all all trust\n"
                    "host  all all 127.0.0.1/32 scram-sha-256\n")
        self._chown(hba)

        last = None
        for _attempt in range(5):
            self.port = _free_port()
            conf = os.path.join(self.datadir, "postgresql.auto.conf")
            with open(conf, "w") as f:
                f.write(textwrap.dedent(f"""\
                    # written by tests/integration/conftest.py
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
                    """))
            self._chown(conf)
            p = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", self.datadir,
                          "-l", self.logfile, timeout=90, check=False)
            if p.returncode == 0:
                break
            last = p.stdout + self._log_tail()
            # most likely the port was taken between probing and binding
            self._run("pg_ctl", "stop", "-m", "immediate", "-D", self.datadir,
                      check=False)
        else:
            raise RuntimeError("could not start PostgreSQL:\n" + (last or ""))

        with self.admin() as c:
            c.execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}' "
                      "NOSUPERUSER NOCREATEDB NOCREATEROLE")
        self.start_seconds = time.monotonic() - t0

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


def serve(server, what):
    """A server fixture's body: start it (failing loudly, never skipping),
    yield it, stop it."""
    try:
        server.start()
    except Exception as e:  # fail loudly, never skip
        server.stop()
        pytest.fail(f"{what} did not start: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server():
    yield from serve(PgServer(), "PostgreSQL test server")


# --------------------------------------------------------------------------
# a database


class Database:
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


@pytest.fixture
def db(pg_server, request):
    d = pg_server.new_database(request.node.name)
    try:
        yield d
    finally:
        d.drop()


# --------------------------------------------------------------------------
# running the binary


@pytest.fixture(scope="session")
def migrate_bin():
    b = os.environ.get("MIGRATE_BIN")
    if not b:
        pytest.fail("MIGRATE_BIN is not set: it must name the built `migrate` "
                    "binary (ctest sets it; by hand: MIGRATE_BIN=build/migrate "
                    "/usr/bin/python3 -m pytest tests/integration)", pytrace=False)
    p = Path(b)
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(f"MIGRATE_BIN={b} does not exist or is not executable "
                    "(build it first: cmake -S . -B build && cmake --build build)",
                    pytrace=False)
    return str(p.resolve())


class Result:
    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err

    @property
    def text(self):
        return self.out + self.err

    def describe(self):
        rc = self.rc
        if rc is not None and rc < 0:
            try:
                rc = f"{rc} (killed by {signal.Signals(-rc).name})"
            except ValueError:
                pass
        cmd = _mask(" ".join(map(str, self.args)))
        return (f"command: {cmd}\nexit: {rc}\n"
                f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}")

    def __repr__(self):
        args = [_mask(str(a)) for a in self.args]
        return f"<Result rc={self.rc} args={args!r}>"


def _mask(text):
    for s in sorted(SECRETS, key=len, reverse=True):
        text = text.replace(s, "****")
    return text


def assert_no_secret(*texts, where="output"):
    for t in texts:
        for secret in SECRETS:
            if t and secret in t:
                raise AssertionError(
                    f"the database password appears in the {where} "
                    f"(secrets must print as ****):\n{t}")


class _CheckedPopen(subprocess.Popen):
    """Popen whose communicate() also asserts that no password leaks."""

    def communicate(self, *a, **kw):
        out, err = super().communicate(*a, **kw)
        assert_no_secret(out, err)
        return out, err


class Runner:
    def __init__(self, bin_path, cwd):
        self.bin = bin_path
        self.cwd = Path(cwd)

    def run_raw(self, *args, env=None, cwd=None, timeout=120):
        argv = [self.bin, *map(str, args)]
        try:
            p = subprocess.run(argv, cwd=str(cwd or self.cwd), env=_clean_env(env),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            raise AssertionError(
                f"migrate did not finish within {timeout}s\n"
                + Result(argv, None, out, err).describe()) from None
        r = Result(argv, p.returncode, p.stdout, p.stderr)
        assert_no_secret(r.out, r.err)
        return r


def docs(r):
    """The one JSON document on stdout of a --json run."""
    try:
        return json.loads(r.out)
    except ValueError as e:
        raise AssertionError(f"stdout is not one JSON document: {e}\n" + r.describe())


def check_rows(text):
    """{name: (ok, detail)} from check's text report (lines 'ok   name  detail')."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(ok|FAIL)\s+(\S+)\s+(.*)$", line)
        if m:
            rows[m.group(2)] = (m.group(1) == "ok", m.group(3))
    return rows


@pytest.fixture
def closed_port():
    """A loopback port, bound but not listening for the whole test:
    connections to it are refused at once. The port number."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def progress(text):
    """The backfill's --json progress lines in stderr text."""
    out = []
    for line in text.splitlines():
        if line.startswith('{"event":"backfill"'):
            out.append(json.loads(line))
    return out


class Watch:
    """A running `migrate` (project.popen) whose stderr is read as it comes."""

    def __init__(self, proc):
        self.p = proc
        self.lines = []
        self.out = ""
        self._mu = threading.Lock()
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err.start()
        self._t_out.start()

    def _read_err(self):
        for line in self.p.stderr:
            with self._mu:
                self.lines.append(line.rstrip("\n"))

    def _read_out(self):
        self.out = self.p.stdout.read()

    @property
    def err(self):
        with self._mu:
            return "\n".join(self.lines)

    def progress(self):
        return progress(self.err)

    def wait_for(self, pred, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            if self.p.poll() is not None:
                time.sleep(0.2)     # let the readers drain
                got = pred()
                if got:
                    return got
                raise AssertionError("migrate ended (exit %r) before %s\n%s"
                                     % (self.p.returncode, what, self.err))
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s\n%s" % (what, self.err))

    def line_where(self, pred):
        for j in self.progress():
            if pred(j):
                return j
        return None

    def finish(self, timeout=60):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("migrate did not finish within %ss\n%s"
                                 % (timeout, self.err))
        self._t_err.join(10)
        self._t_out.join(10)
        assert_no_secret(self.out, self.err)
        return self.p.returncode

    def kill_after_progress(self):
        """kill -9 once a progress line shows rows done, while it runs."""
        self.wait_for(lambda: self.line_where(lambda j: j["rows_done"] > 0),
                      "a progress line with rows done")
        assert self.p.poll() is None, "backfill ended before the kill:\n" + self.err
        self.p.kill()
        return self.finish(30)


@pytest.fixture
def cli(migrate_bin, tmp_path):
    """Runs the binary with exactly the given arguments, cwd = tmp_path."""
    return Runner(migrate_bin, tmp_path)


class Project(Runner):
    def __init__(self, bin_path, db, root, env=None):
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(bin_path, root)
        self.db = db
        self.env = dict(env or {})   # every run's; a run's own env= wins
        self.dir = root
        self.migrations = root / "migrations"
        self.migrations.mkdir(exist_ok=True)
        self.state = root / ".migrate" / "state.db"

    def base_args(self):
        return ["-d", self.db.url, "-m", str(self.migrations),
                "--state", str(self.state)]

    def write(self, filename, text):
        """Write a migration file (text dedented, a leading newline dropped)."""
        path = self.migrations / filename
        body = textwrap.dedent(text)
        if body.startswith("\n"):
            body = body[1:]
        path.write_text(body)
        return path

    def checksum(self, filename):
        return hashlib.sha256((self.migrations / filename).read_bytes()).hexdigest()

    def _env(self, env, fault):
        e = dict(self.env)
        e.update(env or {})
        if fault is not None:
            e["MIGRATE_FAULT"] = fault
        return e

    def run(self, *args, env=None, timeout=120, fault=None):
        return self.run_raw(*self.base_args(), *args, env=self._env(env, fault),
                            timeout=timeout)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == 0, "expected exit 0\n" + r.describe()
        return r

    def expect(self, code, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == code, f"expected exit {code}\n" + r.describe()
        return r

    def json(self, *args, **kw):
        r = self.ok("--json", *args, **kw)
        try:
            return json.loads(r.out)
        except ValueError as e:
            raise AssertionError(f"stdout is not one JSON document: {e}\n"
                                 + r.describe()) from None

    def popen(self, *args, env=None, fault=None, **kw):
        """Start migrate in the background (stdout/stderr piped, text)."""
        argv = [self.bin, *self.base_args(), *map(str, args)]
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return _CheckedPopen(argv, cwd=str(self.dir),
                             env=_clean_env(self._env(env, fault)),
                             stdin=subprocess.DEVNULL, text=True,
                             errors="replace", **kw)

    def phases(self):
        """{id: phase} from `status --json`."""
        return {m["id"]: m["phase"] for m in self.json("status")["migrations"]}


@pytest.fixture
def project(migrate_bin, db, tmp_path):
    return Project(migrate_bin, db, tmp_path)


@pytest.fixture
def make_project(migrate_bin, tmp_path, mysql_dialect):
    """make_project(db, subdir) -> a Project in tmp_path/subdir bound to db
    (on MariaDB, planning in the test's dialect, as mysql_project)."""
    def make(database, subdir):
        return Project(migrate_bin, database, tmp_path / subdir,
                       env=MYSQL_DIALECTS[mysql_dialect])
    return make


# --------------------------------------------------------------------------
# the common example: users.user_name -> users.username

USERS_DDL = """
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    user_name text NOT NULL,
    email text
)"""

USERS_ROWS = [("alice", "alice@example.com"), ("bob", "bob@example.com"),
              ("carol", None), ("dave", "dave@example.com"), ("eve", None)]

RENAME_FILE = "0001_rename_user_name.yaml"
RENAME_YAML = """
description: Rename users.user_name to users.username
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
"""


def seed_users(database):
    database.execute(USERS_DDL)
    with database.connect() as c:
        with c.cursor() as cur:
            cur.executemany("INSERT INTO users (user_name, email) VALUES (%s, %s)",
                            USERS_ROWS)


def columns_of(database, table, schema="public"):
    return [r[0] for r in database.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table))]


@pytest.fixture
def users_project(project):
    seed_users(project.db)
    project.write(RENAME_FILE, RENAME_YAML)
    return project


# --------------------------------------------------------------------------
# MariaDB: a real server for the mysql driver's tests (label "mysql").
# Started by tests/mariadb_server.sh (the same script a developer can run by
# hand) only when a test asks for `mariadb_server`, `mdb` or `mysql_project`.

MARIADB_SCRIPT = Path(__file__).resolve().parent.parent / "mariadb_server.sh"


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


@pytest.fixture(scope="session")
def mariadb_server():
    yield from serve(MariaDbServer(), "MariaDB test server")


class MysqlDatabase:
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
                database=True):
        """A pymysql connection over TCP (autocommit). program_name is sent
        as the connection attribute of that name (None: not sent)."""
        if password is None:
            password = {APP_USER: MYSQL_APP_PASSWORD,
                        MYSQL_LOW_USER: MYSQL_LOW_PASSWORD}.get(user, "")
        c = self.server.pymysql.connect(
            host=self.server.host, port=self.server.port, user=user,
            password=password, database=self.name if database else None,
            autocommit=True, charset="utf8mb4", program_name=program_name)
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
        program_name: PROCESS, and SELECT on performance_schema."""
        self.grant("PROCESS", "*.*", user)
        self.grant("SELECT", "performance_schema.*", user)

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


@pytest.fixture
def mdb(mariadb_server, request):
    d = mariadb_server.new_database(request.node.name)
    try:
        yield d
    finally:
        d.drop()


# The planner's two SQL dialects: MariaDB's own, and the forms MySQL 8.0.29+
# accepts (which MariaDB accepts too), chosen on MariaDB by the test hook.
MYSQL_DIALECTS = {"mariadb": {}, "mysql8": {"MIGRATE_TEST_MYSQL_DIALECT": "1"}}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "both_dialects: run the test once per planner dialect "
        "(mysql_project.dialect: mariadb, mysql8)")


def pytest_generate_tests(metafunc):
    if ("mysql_dialect" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("both_dialects")):
        metafunc.parametrize("mysql_dialect", sorted(MYSQL_DIALECTS))


@pytest.fixture
def mysql_dialect():
    """The dialect of mysql_project: parametrized by both_dialects, else
    $MG_MYSQL_DIALECT (a developer's switch: MG_MYSQL_DIALECT=mysql8 runs
    a whole file in the MySQL dialect), else mariadb."""
    d = os.environ.get("MG_MYSQL_DIALECT", "mariadb")
    assert d in MYSQL_DIALECTS, f"MG_MYSQL_DIALECT={d}: expected one of {sorted(MYSQL_DIALECTS)}"
    return d


@pytest.fixture
def mysql_project(migrate_bin, mdb, tmp_path, mysql_dialect):
    """A migrations project in tmp_path bound to mdb (as `app`)."""
    p = Project(migrate_bin, mdb, tmp_path, env=MYSQL_DIALECTS[mysql_dialect])
    p.dialect = mysql_dialect
    return p
