"""Plan snapshots: the exact output of `migrate plan --json` for every case
of tests/snapshots/cases/, against three targets, compared byte for byte
with the expected files kept in tests/snapshots/<target>/.

Targets:
  postgres  the PostgreSQL of conftest.py (pg_server);
  mariadb   the MariaDB of conftest.py (mariadb_server), MariaDB's dialect;
  mysql8    the same MariaDB with MIGRATE_TEST_MYSQL_DIALECT=1 in migrate's
            environment: the plans hold the SQL written for MySQL 8.0.29+
            (as test_mysql_dialect.py runs them).

A case is a directory tests/snapshots/cases/<case>/ holding the schema of
each database family it exists for (schema.postgres.sql: target postgres;
schema.mysql.sql: targets mariadb and mysql8) and its migration files
(*.yaml). Each case gets a database of its own on each server, with its
schema (the two MariaDB targets share it: planning changes nothing), and
each (target, case) one `migrate plan --json` of every pending migration
in a new project directory (no state file yet); nothing else runs. Its
output is compared with the expected files:

  <target>/<case>.json  stdout, when there is any;
  <target>/<case>.err   "exit <status>" and stderr, when the status is not 0
                        or stderr is not empty (a refusal, an input error).

A file that exists on one side only is a difference too. A difference fails
the test with a unified diff (and, for JSON, a second one with the SQL
strings' newlines shown as lines). Each run plans in new databases on new
servers, so a passing run is also a check that the plans do not depend on
anything that varies between runs (catalog order, oids, names, time).

Only what legitimately varies between runs is normalised, in both stdout and
stderr: the database's generated name (<DB>), the temporary directory of the
project (<TMP>) and the servers' ports (<PORT>). Nothing else.

Rewriting the expected files: MG_UPDATE_SNAPSHOTS=1 in pytest's environment
writes what the binary prints instead of comparing (and removes an expected
file the run no longer produces). A change to an expected file is either a
bug or a deliberate fix explained in its commit (tests/snapshots/README.md).
The expected files were generated with the binary of tag v0.11.0, before
the planner refactor of issue 12:

  MG_UPDATE_SNAPSHOTS=1 MIGRATE_BIN=/path/to/v0.11.0/migrate \\
      /usr/bin/python3 -m pytest -q -p no:cacheprovider test_plan_snapshots.py
"""

import difflib
import os
import re
from pathlib import Path

import pytest
from pymysql.constants import CLIENT

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
CASES = SNAPSHOTS / "cases"
UPDATE = os.environ.get("MG_UPDATE_SNAPSHOTS") == "1"

# target -> (schema file of its family, server fixture, migrate's environment)
TARGETS = {
    "postgres": ("schema.postgres.sql", "pg_server", {}),
    "mariadb": ("schema.mysql.sql", "mariadb_server",
                {"MIGRATE_TEST_MYSQL_DIALECT": None}),
    "mysql8": ("schema.mysql.sql", "mariadb_server",
               {"MIGRATE_TEST_MYSQL_DIALECT": "1"}),
}


def case_params():
    """(target, case) for every case directory and every target whose
    family's schema the case has: postgres first, then the MariaDB targets
    (so each server starts once, when first needed)."""
    cases = sorted(d for d in CASES.iterdir() if d.is_dir())
    out = []
    for target, (schema, _fixture, _env) in TARGETS.items():
        for d in cases:
            if (d / schema).is_file():
                out.append(pytest.param(target, d.name, id=f"{target}-{d.name}"))
    return out


def load_schema_postgres(server, name, sql):
    """The schema as one simple-protocol request (several statements),
    as the superuser, then every object handed to `app` by being created
    by `app`: SET ROLE keeps ownership with the tool's user."""
    with server.admin(name) as c:
        c.execute("SET ROLE app")
        c.execute(sql)


def load_schema_mysql(server, name, sql):
    """The schema as one multi-statement request as root (triggers with
    BEGIN ... END bodies need no DELIMITER here)."""
    c = server.pymysql.connect(unix_socket=server.socket, user="root",
                               password="", database=name, autocommit=True,
                               charset="utf8mb4",
                               client_flag=CLIENT.MULTI_STATEMENTS,
                               program_name="pytest-snapshot-schema")
    try:
        with c.cursor() as cur:
            cur.execute(sql)
            while cur.nextset():
                pass
    finally:
        c.close()


def normalise(text, database, tmp_path, server):
    """Replace what differs between runs of the same case: the generated
    database name, the project's temporary directory, the server's port."""
    text = text.replace(str(tmp_path), "<TMP>")
    text = text.replace(database.name, "<DB>")
    text = re.sub(r"(?<![0-9])%d(?![0-9])" % server.port, "<PORT>", text)
    return text


def plan_output(project, env, database, tmp_path, server):
    """{filename: text} of one `plan --json` run, normalised."""
    r = project.run("plan", "--json", env=env)
    files = {}
    if r.out:
        files[".json"] = normalise(r.out, database, tmp_path, server)
    if r.rc != 0 or r.err:
        files[".err"] = normalise(f"exit {r.rc}\n{r.err}", database, tmp_path,
                                  server)
    return files


def unified(expected, got, name):
    return "".join(difflib.unified_diff(
        expected.splitlines(keepends=True), got.splitlines(keepends=True),
        fromfile=f"expected {name}", tofile=f"migrate's {name}"))


def sql_lines(text):
    """A plan's JSON with every string's escaped newlines shown as lines
    (a step's SQL is one JSON string: a diff of the raw file shows the
    whole string as one changed line). Only for reading a diff."""
    return text.replace("\\n", "\n    | ")


def compare_or_update(target, case, got):
    """Compare the run's files with the expected ones (or write them when
    MG_UPDATE_SNAPSHOTS=1); a failure shows a unified diff per file."""
    base = SNAPSHOTS / target
    diffs = []
    for ext in (".json", ".err"):
        path = base / f"{case}{ext}"
        rel = f"tests/snapshots/{target}/{case}{ext}"
        new = got.get(ext)
        if UPDATE:
            if new is None:
                path.unlink(missing_ok=True)
            else:
                base.mkdir(parents=True, exist_ok=True)
                path.write_text(new)
            continue
        old = path.read_text() if path.exists() else None
        if old == new:
            continue
        if old is None:
            diffs.append(f"{rel}: no expected file; migrate printed:\n"
                         + unified("", new, rel))
        elif new is None:
            diffs.append(f"{rel}: expected, but migrate printed nothing there:\n"
                         + unified(old, "", rel))
        else:
            diffs.append(unified(old, new, rel))
            if ext == ".json":
                diffs.append("the same, strings' newlines shown as lines:\n"
                             + unified(sql_lines(old), sql_lines(new), rel))
    if diffs:
        pytest.fail(f"plan of case {case} on {target} differs from its snapshot "
                    "(a bug, or a deliberate fix: then MG_UPDATE_SNAPSHOTS=1 and "
                    "explain it in the commit):\n" + "\n".join(diffs),
                    pytrace=False)


# (server fixture, case) -> [the case's database (schema loaded), how many
# targets still have to plan in it]. The two MariaDB targets plan in the same
# database (planning changes nothing in it); the last target drops it (with
# -k, a database some deselected target would have used stays until its
# server stops at the end of the run: harmless).
_DATABASES = {}


def _uses(fixture, case):
    return sum(1 for t, (schema, f, _env) in TARGETS.items()
               if f == fixture and (CASES / case / schema).is_file())


def case_database(server, fixture, schema_file, case):
    key = (fixture, case)
    if key not in _DATABASES:
        database = server.new_database(f"snap_{case}")
        sql = (CASES / case / schema_file).read_text()
        try:
            if fixture == "pg_server":
                load_schema_postgres(server, database.name, sql)
            else:
                load_schema_mysql(server, database.name, sql)
        except Exception:
            database.drop()
            raise
        _DATABASES[key] = [database, _uses(fixture, case)]
    return _DATABASES[key][0]


def release_database(fixture, case):
    entry = _DATABASES.get((fixture, case))
    if entry is None:       # its creation failed
        return
    entry[1] -= 1
    if entry[1] == 0:
        entry[0].drop()
        del _DATABASES[(fixture, case)]


@pytest.mark.parametrize("snap_target,case", case_params())
def test_plan_snapshot(snap_target, case, request, make_project, tmp_path):
    target = snap_target  # not "target": conftest parametrises a fixture of that name
    schema_file, fixture, env = TARGETS[target]
    server = request.getfixturevalue(fixture)
    try:
        database = case_database(server, fixture, schema_file, case)
        project = make_project(database, "project")
        migrations = sorted((CASES / case).glob("*.yaml"))
        assert migrations, f"case {case} has no migration file"
        for m in migrations:
            (project.migrations / m.name).write_bytes(m.read_bytes())
        got = plan_output(project, env, database, tmp_path, server)
    finally:
        release_database(fixture, case)
    compare_or_update(target, case, got)


def test_no_expected_file_without_its_case():
    """Every file under tests/snapshots/<target>/ is the expected output of
    a case that still exists for that target (a renamed or removed case
    leaves none behind, which MG_UPDATE_SNAPSHOTS=1 does not remove)."""
    wanted = {f"{p.values[0]}/{p.values[1]}" for p in case_params()}
    stale = []
    for target in TARGETS:
        for f in sorted((SNAPSHOTS / target).iterdir()):
            if f.suffix not in (".json", ".err") or f"{target}/{f.stem}" not in wanted:
                stale.append(f"tests/snapshots/{target}/{f.name}")
    assert not stale, ("expected files without a case (remove them, or restore "
                       "the case): " + ", ".join(stale))
