"""Targets: one behaviour, tested once, against every database.

A scenario that exists for PostgreSQL and for MariaDB is one test function
that takes the `target` fixture; conftest.py parametrises it with the
targets below, so its items are test_x[postgres], test_x[mariadb] (and
test_x[mysql8] for a test marked both_dialects). The Target gives the
test body one interface whatever the server:

  .name     "postgres", "mariadb" or "mysql8" (MariaDB, the planner in its
            MySQL 8.0.29+ dialect: MIGRATE_TEST_MYSQL_DIALECT=1 for every
            migrate the target's projects start)
  .kind     "pg" or "mysql" (what a test branches on where the databases
            legitimately differ; the test says why)
  .server   the session's PgServer or MariaDbServer (started on first use)
  .db       a fresh database for this test (created on first use, dropped
            at the end): Database or MysqlDatabase, both with .url
            .connect(autocommit=True, application_name=None) .query()
            .execute() .history_rows() .close()
  .project  a Project bound to .db in tmp_path (the target's dialect)
  .query(sql, params) .execute(sql, params)   on .db
  .new_database(label)   another fresh database (the caller drops it)
  .make_project(db, subdir)  a Project bound to db, in the dialect
  .restart()             restart the server (every session ends)
  .session_word          how migrate names a server session in its
                         messages: "pid" or "connection"
  .sessions(db)          [(id, program, holds the migrate lock, waits for
                         a lock)] of migrate's sessions on db, found by
                         their application_name / program_name
  .lock_holder(db)       the id of the session holding migrate's lock on
                         db, or None
  .terminate(db, id)     end one session (pg_terminate_backend / KILL)
                         and wait until the server has forgotten it
  .url_with_port(db, port)  db's URL, to another port on the same host

Where the databases' grammars differ, a test marked
@pytest.mark.target_cases("case", {"pg": [...], "mysql": [...]}) runs on
each target with that kind's cases only (parametrize_targets).
"""

import time

from harness.mariadb import MYSQL_DIALECTS
from harness.project import Project

TARGETS = ("postgres", "mariadb", "mysql8")
DEFAULT_TARGETS = ("postgres", "mariadb")


def target_names(definition):
    """The targets of one test function: those of its `targets` marker
    (default: postgres and mariadb), plus mysql8 where the test is marked
    both_dialects and runs on MariaDB."""
    m = definition.get_closest_marker("targets")
    names = tuple(m.args) if m else DEFAULT_TARGETS
    for n in names:
        assert n in TARGETS, f"unknown target {n!r}: expected one of {TARGETS}"
    if definition.get_closest_marker("both_dialects") and "mariadb" in names:
        names += ("mysql8",)
    return names


def parametrize_targets(metafunc):
    """Parametrise a test taking `target` with its targets; with a
    `target_cases(argname, {kind: [values]})` marker, each target only
    with the values of its kind (the cases one database has and the
    other has not: their grammars differ), as (target, value) pairs."""
    names = target_names(metafunc.definition)
    m = metafunc.definition.get_closest_marker("target_cases")
    if m is None:
        metafunc.parametrize("target", names, indirect=True)
        return
    argname, by_kind = m.args
    pairs = [(n, v) for n in names
             for v in by_kind["pg" if n == "postgres" else "mysql"]]
    metafunc.parametrize(("target", argname), pairs, indirect=["target"])


class Target:
    def __init__(self, name, server, migrate_bin, tmp_path, dialect_env):
        self.name = name
        self.kind = "pg" if name == "postgres" else "mysql"
        self.server = server
        self.env = dict(dialect_env)
        self._bin = migrate_bin
        self._tmp = tmp_path
        self._db = None
        self._project = None

    def __repr__(self):
        return f"<Target {self.name}>"

    @property
    def is_pg(self):
        return self.kind == "pg"

    @property
    def is_mysql(self):
        return self.kind == "mysql"

    # -- databases and projects
    def new_database(self, label):
        return self.server.new_database(label)

    def make_project(self, db, subdir):
        return Project(self._bin, db, self._tmp / subdir, env=self.env)

    @property
    def db(self):
        if self._db is None:
            self._db = self.server.new_database(self.name)
        return self._db

    @property
    def project(self):
        if self._project is None:
            self._project = Project(self._bin, self.db, self._tmp, env=self.env)
            self._project.dialect = self.name
        return self._project

    def query(self, sql, params=None):
        return self.db.query(sql, params)

    def execute(self, sql, params=None):
        self.db.execute(sql, params)

    def close(self):
        if self._db is not None:
            self._db.drop()

    # -- the server and its sessions
    def restart(self):
        self.server.restart()

    @property
    def session_word(self):
        return "pid" if self.is_pg else "connection"

    def sessions(self, db):
        if self.is_pg:
            with db.admin() as c:
                return c.execute(
                    "SELECT a.pid, a.application_name,"
                    "       EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid"
                    "               AND l.locktype = 'advisory' AND l.granted),"
                    "       coalesce(a.wait_event_type, '') = 'Lock'"
                    "  FROM pg_stat_activity a"
                    " WHERE a.datname = current_database()"
                    "   AND a.application_name LIKE 'migrate/%%'").fetchall()
        holder = self.lock_holder(db)
        return [(i, program, i == holder, "metadata lock" in state)
                for i, program, state in db.admin_query(
                    "SELECT p.id, a.attr_value, coalesce(p.state, '') "
                    "FROM information_schema.processlist p "
                    "JOIN performance_schema.session_connect_attrs a "
                    "  ON a.processlist_id = p.id AND a.attr_name = 'program_name' "
                    "WHERE p.db = %s AND a.attr_value LIKE 'migrate/%%'", (db.name,))]

    def lock_holder(self, db):
        if self.is_pg:
            held = [s[0] for s in self.sessions(db) if s[2]]
            return held[0] if held else None
        return db.admin_query("SELECT IS_USED_LOCK(%s)", ("migrate:" + db.name,))[0][0]

    def terminate(self, db, session_id):
        if self.is_mysql:
            db.admin_query("KILL %d" % session_id)
            db.wait_gone(session_id)
            return
        with db.admin() as c:
            assert c.execute("SELECT pg_terminate_backend(%s)",
                             (session_id,)).fetchone()[0]
            deadline = time.monotonic() + 10
            while c.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                            (session_id,)).fetchone()[0]:
                assert time.monotonic() < deadline, "pid %d did not end" % session_id
                time.sleep(0.01)

    def url_with_port(self, db, port):
        if self.is_mysql:
            return db.url_for(port=port)
        return db.url.replace(f":{db.server.port}/", f":{port}/")


def make_target(name, request, migrate_bin, tmp_path):
    """The Target `name` for the test of request; its server is started on
    first use (a PostgreSQL-only run never starts MariaDB)."""
    if name == "postgres":
        server = request.getfixturevalue("pg_server")
        env = {}
    else:
        server = request.getfixturevalue("mariadb_server")
        if name == "mysql8":
            env = MYSQL_DIALECTS["mysql8"]
        elif request.node.get_closest_marker("both_dialects"):
            env = MYSQL_DIALECTS["mariadb"]
        else:
            env = MYSQL_DIALECTS[request.getfixturevalue("mysql_dialect")]
    return Target(name, server, migrate_bin, tmp_path, env)
