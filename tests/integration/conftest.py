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

Targets (harness/targets.py): a behaviour tested on both databases is one
test taking `target`, parametrised postgres / mariadb (+ mysql8 when marked
@pytest.mark.both_dialects; @pytest.mark.targets("postgres", ...) narrows
the list; @pytest.mark.target_cases("case", {"pg": [...], "mysql": [...]})
gives each database its own list of cases where their grammars differ):

  target     (function) .name .kind ("pg"/"mysql") .server .db .project
                        .query() .execute() .new_database(label)
                        .make_project(db, subdir) .restart()
                        .session_word .sessions(db) .lock_holder(db)
                        .terminate(db, id) .url_with_port(db, port)

The code lives in harness/: env.py (child environments, ports, the server
fixture body), secrets.py (passwords and the leak check), pg.py (PgServer,
Database), mariadb.py (MariaDbServer, MysqlDatabase, the dialects),
result.py (Result, Runner, Watch and the output readers), project.py
(Project and the users example), targets.py (Target). This file only turns
them into fixtures; the names tests import from it stay importable here.
"""

import os
import socket
from pathlib import Path

import pytest

from harness.env import _clean_env, _free_port, _is_root, serve  # noqa: F401
from harness.mariadb import (MARIADB_SCRIPT, MYSQL_DIALECTS,  # noqa: F401
                             MariaDbServer, MysqlDatabase, _mysql_grant_db, _pymysql)
from harness.pg import Database, PgServer  # noqa: F401
from harness.project import (RENAME_FILE, RENAME_YAML, USERS_DDL,  # noqa: F401
                             USERS_ROWS, Project, columns_of, seed_users)
from harness.result import (Result, Runner, Watch, _CheckedPopen,  # noqa: F401
                            assert_verifies, backfill_status, check_rows, docs,
                            progress)
from harness.secrets import (APP_PASSWORD, APP_USER, MYSQL_APP_PASSWORD,  # noqa: F401
                             MYSQL_APP_PASSWORD_URL, MYSQL_LOW_PASSWORD,
                             MYSQL_LOW_USER, SECRETS, TRICKY_PASSWORD,
                             _mask, assert_no_secret)
from harness.targets import make_target, parametrize_targets


# --------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture(scope="session")
def pg_server():
    yield from serve(PgServer(), "PostgreSQL test server")


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


@pytest.fixture
def closed_port():
    """A loopback port, bound but not listening for the whole test:
    connections to it are refused at once. The port number."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def cli(migrate_bin, tmp_path):
    """Runs the binary with exactly the given arguments, cwd = tmp_path."""
    return Runner(migrate_bin, tmp_path)


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


@pytest.fixture
def users_project(project):
    seed_users(project.db)
    project.write(RENAME_FILE, RENAME_YAML)
    return project


# --------------------------------------------------------------------------
# MariaDB (started only when a test asks for `mariadb_server`, `mdb`,
# `mysql_project` or a mariadb/mysql8 `target`)


@pytest.fixture(scope="session")
def mariadb_server():
    yield from serve(MariaDbServer(), "MariaDB test server")


@pytest.fixture
def mdb(mariadb_server, request):
    d = mariadb_server.new_database(request.node.name)
    try:
        yield d
    finally:
        d.drop()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "both_dialects: run the test once per planner dialect "
        "(mysql_project.dialect: mariadb, mysql8; with `target`: a mysql8 "
        "target beside mariadb)")
    config.addinivalue_line(
        "markers", "targets(*names): the targets a test taking `target` runs "
        "against (postgres, mariadb, mysql8; default postgres and mariadb)")
    config.addinivalue_line(
        "markers", "target_cases(argname, {kind: values}): parametrise argname "
        "per target with the values of its kind ('pg' or 'mysql')")


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        parametrize_targets(metafunc)
    elif ("mysql_dialect" in metafunc.fixturenames
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


# --------------------------------------------------------------------------
# targets


@pytest.fixture
def target(request, migrate_bin, tmp_path):
    """One of postgres, mariadb, mysql8 (harness/targets.py)."""
    t = make_target(request.param, request, migrate_bin, tmp_path)
    try:
        yield t
    finally:
        t.close()
