"""The operation matrix (tests/integration/test_operations.py): one case
directory per operation under tests/operations/, run on every target it
names. This module reads the cases and does the work; the test file only
parametrises and checks. tests/operations/README.md describes the format.

    case = load_case(name)                 # tests/operations/<name>/
    run = CaseRun(case, target, "label")   # a fresh database, the schema
    run.setup()                            #   loaded, the migrations copied
    run.phase("expand"); ...               # migrate <phase> <id>, exit 0
    run.drop()

What a run compares:
- schema(): the user-visible catalog. PostgreSQL: Database.snapshot()
  plus comments, replica identity, sequences, identity and generated
  columns and storage parameters (what the new operations change);
  MariaDB: mysql_scenarios.schema_snapshot() (SHOW CREATE TABLE of every
  table and view, triggers, routines).
- content(tables): every row of the given tables, the given columns only,
  sorted; what "the data of the original columns" means after a rollback.
- leftovers(): what migrate's window leaves (triggers, functions, routines,
  marker columns) beyond what the case's schema itself has.
"""

import difflib
import itertools
import os
import pprint
import random
import re
import threading
import time
from pathlib import Path

import pytest

try:
    import yaml
except ImportError:  # pragma: no cover - environment problem, say how to fix
    raise SystemExit("PyYAML is missing: apt-get install -y python3-yaml "
                     "(run the tests with /usr/bin/python3)")

OPERATIONS_DIR = Path(__file__).resolve().parents[2] / "operations"
TARGET_NAMES = ("postgres", "mariadb")
KILLED = (-9, 137)
PHASES = ("expand", "backfill", "switch-reads", "contract")
CASE_KEYS = {"description", "targets", "refused", "writers", "expect",
             "seed_rows", "renamed", "batch_size"}

# a number unique per execution of a writer statement, over the whole run
_numbers = itertools.count(1_000_001)
_numbers_mu = threading.Lock()


def next_number():
    with _numbers_mu:
        return next(_numbers)


# --------------------------------------------------------------------------
# the case files


class CaseError(Exception):
    """A case directory that does not follow the format."""


class Case:
    def __init__(self, name, directory, spec):
        self.name = name
        self.dir = directory
        self.spec = spec
        self.description = spec.get("description", "")
        self.targets = list(spec.get("targets") or [])
        self.refused = dict(spec.get("refused") or {})
        self.writers = spec.get("writers") or {}
        self.expect = spec.get("expect") or {}
        self.seed_rows = spec.get("seed_rows")
        self.renamed = dict(spec.get("renamed") or {})
        self.batch_size = int(spec.get("batch_size", 50))

    def __repr__(self):
        return f"<Case {self.name}>"

    def schema_file(self, target):
        return self.dir / f"schema.{target}.sql"

    def migrations_dir(self, target):
        d = self.dir / f"migrations.{target}"
        return d if d.is_dir() else self.dir / "migrations"

    def migration_files(self, target):
        return sorted(p for p in self.migrations_dir(target).iterdir()
                      if p.suffix in (".yaml", ".yml"))

    def statements(self, side, target):
        """The writer statements of side ('old' or 'new') on target."""
        return list((self.writers.get(side) or {}).get(target) or [])

    def expectations(self, target):
        return list(self.expect.get(target) or [])

    def validate(self):
        """Every problem of the case's files, as a list of sentences."""
        bad = []
        unknown = set(self.spec) - CASE_KEYS
        if unknown:
            bad.append(f"unknown keys {sorted(unknown)} (known: {sorted(CASE_KEYS)})")
        for t in self.targets + list(self.refused):
            if t not in TARGET_NAMES:
                bad.append(f"unknown target {t!r} (expected one of {TARGET_NAMES})")
        both = set(self.targets) & set(self.refused)
        if both:
            bad.append(f"targets {sorted(both)} are both run and refused")
        missing = set(TARGET_NAMES) - set(self.targets) - set(self.refused)
        if missing:
            bad.append(f"targets {sorted(missing)} are neither in targets: nor in "
                       "refused: (every case says what each database does)")
        for t in self.targets + list(self.refused):
            if not self.schema_file(t).is_file():
                bad.append(f"{self.schema_file(t).name} is missing")
            d = self.migrations_dir(t)
            if not d.is_dir() or not self.migration_files(t):
                bad.append(f"{d.name}/ has no migration file")
        for t in self.targets:
            if not self.statements("old", t):
                bad.append(f"writers.old.{t} is empty: the old version must write")
            if not self.statements("new", t):
                bad.append(f"writers.new.{t} is empty: the new version must write")
            if not self.expectations(t):
                bad.append(f"expect.{t} is empty: say what must hold after contract")
        for t, text in self.refused.items():
            if not isinstance(text, str) or not text:
                bad.append(f"refused.{t} must be a non-empty substring of the refusal")
        return bad


def case_names():
    if not OPERATIONS_DIR.is_dir():
        return []
    return sorted(p.name for p in OPERATIONS_DIR.iterdir()
                  if (p / "case.yaml").is_file())


def load_case(name):
    d = OPERATIONS_DIR / name
    try:
        spec = yaml.safe_load((d / "case.yaml").read_text())
    except yaml.YAMLError as e:
        raise CaseError(f"{d}/case.yaml: {e}") from None
    if not isinstance(spec, dict):
        raise CaseError(f"{d}/case.yaml: expected a mapping at the top")
    return Case(name, d, spec)


def shard_of(names, spec):
    """The names of shard 'i/k' (1-based; every k-th name from the i-th)."""
    if not spec:
        return list(names)
    m = re.fullmatch(r"(\d+)/(\d+)", spec)
    assert m, f"MG_OPERATIONS_SHARD={spec!r}: expected i/k, e.g. 1/3"
    i, k = int(m.group(1)), int(m.group(2))
    assert 1 <= i <= k, f"MG_OPERATIONS_SHARD={spec!r}: expected 1 <= i <= k"
    return [n for j, n in enumerate(names) if j % k == i - 1]


# --------------------------------------------------------------------------
# SQL on either server


def quote(kind, name):
    if kind == "pg":
        return '"' + name.replace('"', '""') + '"'
    return "`" + name.replace("`", "``") + "`"


def run_script(db, text):
    """Run a schema file (several statements) as the application's user."""
    if db.kind == "pg":
        with db.connect(application_name="pytest-schema") as c:
            c.execute(text)
        return
    pymysql = db.server.pymysql
    from harness.secrets import APP_USER, MYSQL_APP_PASSWORD
    c = pymysql.connect(host=db.server.host, port=db.server.port, user=APP_USER,
                        password=MYSQL_APP_PASSWORD, database=db.name,
                        autocommit=True, charset="utf8mb4",
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
                        program_name="pytest-schema")
    try:
        with c.cursor() as cur:
            cur.execute(text)
            while cur.nextset():
                pass
    finally:
        c.close()


def execute(conn, sql):
    """One statement on a psycopg or pymysql connection (autocommit):
    the number of rows it changed."""
    with conn.cursor() as cur:
        cur.execute(sql)
        n = cur.rowcount
        if cur.description:
            cur.fetchall()
        return n


def scalar_true(value):
    return value is True or value == 1 or value == "1" or value == "t"


def user_tables(db):
    """Base tables of the case (not migrate's own), sorted."""
    if db.kind == "pg":
        rows = db.query("SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                        "   AND table_name NOT LIKE '\\_migrate\\_%%' ORDER BY 1")
    else:
        rows = db.query("SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
                        "   AND table_name NOT LIKE '\\_migrate\\_%%' ORDER BY 1")
    return [r[0] for r in rows]


def table_columns(db, table):
    """Column names of a table, in order, without migrate's markers."""
    schema = "'public'" if db.kind == "pg" else "DATABASE()"
    return [r[0] for r in db.query(
        "SELECT column_name FROM information_schema.columns"
        f" WHERE table_schema = {schema} AND table_name = %s"
        "   AND column_name NOT LIKE '\\_migrate\\_%%'"
        " ORDER BY ordinal_position", (table,))]


def row_counts(db):
    return {t: db.query("SELECT count(*) FROM %s" % quote(db.kind, t))[0][0]
            for t in user_tables(db)}


def content(db, columns_by_table):
    """{table: sorted rows} of the given columns of each table."""
    out = {}
    for t, cols in columns_by_table.items():
        sel = ", ".join(quote(db.kind, c) for c in cols)
        order = ", ".join(str(i) for i in range(1, len(cols) + 1))
        out[t] = db.query(f"SELECT {sel} FROM {quote(db.kind, t)} ORDER BY {order}")
    return out


# --------------------------------------------------------------------------
# the schema a user sees, and what migrate leaves


_PG_EXTRA = {
    "comments": """
        SELECT c.relname, a.attname, d.description
          FROM pg_description d
          JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
                                  AND d.objsubid > 0
         WHERE n.nspname = 'public' ORDER BY 1, 2 NULLS FIRST""",
    "relations": """
        SELECT c.relname, c.relkind, c.relreplident, c.reloptions::text,
               c.relpersistence
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relname NOT LIKE '\\_migrate\\_%'
         ORDER BY 1""",
    "column_kinds": """
        SELECT c.relname, a.attname, a.attidentity, a.attgenerated,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(ad.adbin, ad.adrelid)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind IN ('r', 'p', 'v', 'm')
           AND c.relname NOT LIKE '\\_migrate\\_%'
         ORDER BY 1, a.attnum""",
    "views": """
        SELECT viewname, definition FROM pg_views
         WHERE schemaname = 'public' ORDER BY 1""",
}


def schema(db):
    """The user-visible schema of db (see the module's docstring)."""
    if db.kind == "pg":
        snap = db.snapshot()
        with db.server.admin(db.name) as c:
            for k, q in _PG_EXTRA.items():
                snap[k] = c.execute(q).fetchall()
        return snap
    from mysql_scenarios import schema_snapshot
    return schema_snapshot(db)


def schema_diff(got, want):
    """A readable difference of two schema() results ('' when equal)."""
    out = []
    for k in sorted(set(got) | set(want), key=str):
        a, b = want.get(k), got.get(k)
        if a == b:
            continue
        a_lines = pprint.pformat(a, width=100).splitlines()
        b_lines = pprint.pformat(b, width=100).splitlines()
        out.append(f"[{k}]")
        out += list(difflib.unified_diff(a_lines, b_lines, "expected", "got",
                                         lineterm="", n=1))
    return "\n".join(out)


def leftovers(db, before_schema):
    """What migrate's window left in db that the case's own schema
    (before_schema, taken before expand) did not have."""
    if db.kind == "pg":
        from writers import migrate_leftovers
        return migrate_leftovers(db)
    from mysql_scenarios import leftovers as mysql_leftovers
    own = [t[0] for t in before_schema.get("triggers", [])]
    own_routines = {r[0] for r in before_schema.get("routines", [])}
    return [x for x in mysql_leftovers(db, own_triggers=own)
            if not (x.startswith("routine ") and x[8:] in own_routines)]


# --------------------------------------------------------------------------
# the application: writers running the case's statements


def fill(sql, id_max, rng):
    """The statement with its placeholders: {n} a number unique per
    execution, {id} a random key 1..id_max."""
    if "{n}" in sql:
        sql = sql.replace("{n}", str(next_number()))
    if "{id}" in sql:
        sql = sql.replace("{id}", str(rng.randint(1, max(1, id_max))))
    return sql


_INSERT = re.compile(r"^\s*(?:INSERT|REPLACE)\s+(?:IGNORE\s+)?INTO\s+[`\"]?([A-Za-z0-9_$.]+)",
                     re.I)
_DELETE = re.compile(r"^\s*(?:DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+[`\"]?([A-Za-z0-9_$.]+)",
                     re.I)


def inserted_table(sql):
    m = _INSERT.match(sql)
    return m.group(1).split(".")[-1] if m else None


def deleted_table(sql):
    m = _DELETE.match(sql)
    return m.group(1).split(".")[-1] if m else None


class Tally:
    """Rows the writers inserted, per table named in their INSERTs."""

    def __init__(self):
        self.mu = threading.Lock()
        self.rows = {}
        self.executions = 0

    def add(self, sql, n):
        t = inserted_table(sql)
        with self.mu:
            self.executions += 1
            if t is not None and n > 0:
                self.rows[t] = self.rows.get(t, 0) + n


def statement_writer(db, side, index, sql, id_max, tally):
    """A writers.Writer that runs one statement in a loop, one transaction
    each, on its own connection; any error fails the run."""
    from writers import Writer

    def insert(conn, i):
        s = fill(sql, id_max, w.rng)
        try:
            n = execute(conn, s)
        except Exception as e:
            raise AssertionError(f"{side} writer statement failed: {s}\n{e}") from e
        tally.add(sql, n)
        return i, n

    def unused(conn, rng, row_id, last):
        raise AssertionError("statement writers never update")

    name = f"{'blue' if side == 'old' else 'green'}{index + 1}"
    w = Writer(db.connect, name, insert, unused, insert_ratio=1.0,
               application_name=f"app/{'blue' if side == 'old' else 'green'}/{index + 1}",
               sleep=(0.004, 0.008))
    return w


# --------------------------------------------------------------------------
# one run of a case on one target


class CaseRun:
    """A fresh database with the case's schema and a project with its
    migrations (setup()); the phase commands; the checks."""

    def __init__(self, case, target, label):
        self.case = case
        self.target = target
        self.name = target.name
        self.kind = target.kind
        self.label = re.sub(r"[^a-z0-9_]+", "_", label.lower())
        self.db = None
        self.project = None
        self.ids = []
        self.tally = Tally()
        self.rng = random.Random(f"{case.name}/{label}")
        self.seed_counts = {}
        self.id_max = 1

    # -- setup and teardown
    def setup(self):
        self.db = self.target.new_database(self.label)
        try:
            run_script(self.db, self.case.schema_file(self.name).read_text())
        except Exception as e:
            raise AssertionError(f"{self.case.schema_file(self.name)} failed to "
                                 f"load on {self.name}: {e}") from e
        self.project = self.target.make_project(self.db, self.label)
        for f in self.case.migration_files(self.name):
            (self.project.migrations / f.name).write_bytes(f.read_bytes())
            self.ids.append(str(int(f.name.split("_", 1)[0])))
        # the migrations before the last are part of the starting schema
        for mid in self.ids[:-1]:
            for p in PHASES:
                self.command(p, mid)
        self.seed_counts = row_counts(self.db)
        self.id_max = int(self.case.seed_rows or max(self.seed_counts.values(), default=1))
        return self

    def drop(self):
        if self.db is not None:
            self.db.drop()
            self.db = None

    @property
    def mid(self):
        return self.ids[-1]

    # -- migrate
    def args(self, phase):
        if phase == "backfill":
            return ["--batch-size", str(self.case.batch_size)]
        return []

    def command(self, phase, mid=None, fault=None, after_kill=False):
        """migrate <phase> <id>: exit 0 (or, with a fault, killed). Right
        after a kill, a refusal because the killed session still holds
        migrate's lock (MariaDB lets go of GET_LOCK when the server has
        noticed the closed connection) is retried for a few seconds."""
        deadline = time.monotonic() + 10
        while True:
            r = self.project.run(phase, mid or self.mid, *self.args(phase), fault=fault)
            if not (after_kill and r.rc == 1 and "holds the lock" in r.text
                    and time.monotonic() < deadline):
                break
            time.sleep(0.1)
        if fault is None:
            assert r.rc == 0, (f"{self.case.name} on {self.name}: `migrate {phase}` "
                               f"failed\n" + r.describe())
        else:
            assert r.rc in KILLED, (
                f"{self.case.name} on {self.name}: MIGRATE_FAULT={fault} did not "
                f"kill `migrate {phase}`\n" + r.describe())
        return r

    def phase(self, phase):
        self.command(phase)
        want = {"expand": "expanded", "backfill": "backfilled",
                "switch-reads": "switched", "contract": "contracted",
                "rollback": "pending"}[phase]
        got = self.project.phases().get(int(self.mid))
        assert got == want, (f"{self.case.name} on {self.name}: after {phase}, "
                             f"status --json says {got!r}, not {want!r}")

    def plan(self):
        """The migration under test in `plan --json`: phases, backfills."""
        doc = self.project.json("plan", self.mid)
        [m] = [m for m in doc["migrations"] if str(m["id"]) == self.mid]
        return m

    def colour(self, *args):
        r = self.project.run("colour", *args)
        assert r.rc == 0, (f"{self.case.name} on {self.name}: `migrate colour "
                           f"{' '.join(args)}` failed\n" + r.describe())

    # -- the application
    def writers(self, side):
        return [statement_writer(self.db, side, i, sql, self.id_max, self.tally)
                for i, sql in enumerate(self.case.statements(side, self.name))]

    def write_once(self, side, when):
        """Each statement of side once, in order (the application while
        migrate is down, or between two commands)."""
        with self.db.connect(autocommit=True,
                             application_name="app/" + side) as conn:
            for sql in self.case.statements(side, self.name):
                s = fill(sql, self.id_max, self.rng)
                try:
                    n = execute(conn, s)
                except Exception as e:
                    raise AssertionError(
                        f"{self.case.name} on {self.name}: the {side} version's "
                        f"statement failed {when}:\n  {s}\n  {e}") from e
                self.tally.add(sql, n)

    def app_sessions(self, prefix):
        """How many sessions whose application name starts with prefix."""
        if self.kind == "pg":
            return self.db.query("SELECT count(*) FROM pg_stat_activity"
                                 " WHERE application_name LIKE %s",
                                 (prefix + "%",))[0][0]
        return self.db.admin_query(
            "SELECT count(*) FROM performance_schema.session_connect_attrs"
            " WHERE attr_name = 'program_name' AND attr_value LIKE %s",
            (prefix + "%",))[0][0]

    def wait_sessions_gone(self, prefix, timeout=10):
        deadline = time.monotonic() + timeout
        while self.app_sessions(prefix):
            assert time.monotonic() < deadline, (
                f"sessions {prefix}* still connected after {timeout}s")
            time.sleep(0.02)

    def recount(self):
        """Count rows from now on: the row counts now are the seed, and
        nothing is inserted yet (after a rollback, which drops what the
        migration created, and the rows written into it)."""
        with self.tally.mu:
            self.tally.rows = {}
        self.seed_counts = row_counts(self.db)

    # -- checks
    def check_expect(self, when):
        for q in self.case.expectations(self.name):
            try:
                rows = self.db.query(q)
            except Exception as e:
                raise AssertionError(f"{self.case.name} on {self.name}: expect query "
                                     f"failed {when}:\n  {q}\n  {e}") from e
            assert len(rows) == 1 and rows[0] and scalar_true(rows[0][0]), (
                f"{self.case.name} on {self.name}: expect is false {when}:\n"
                f"  {q}\n  returned {rows!r}")

    def check_rows_kept(self, when):
        """Every table that was there before expand (under its new name if
        renamed: the case's `renamed:`) holds its seed rows plus the rows
        the writers' INSERTs reported; a table created by the migration
        holds at least the rows inserted into it. Tables a writer deletes from, and
        tables the migration dropped, are left to the case's expect."""
        now = row_counts(self.db)
        deleting = {deleted_table(s) for side in ("old", "new")
                    for s in self.case.statements(side, self.name)}
        want = {}
        for t, n in self.seed_counts.items():
            name = self.case.renamed.get(t, t)
            want[name] = want.get(name, 0) + n
        for t, n in self.tally.rows.items():
            name = self.case.renamed.get(t, t)
            want[name] = want.get(name, 0) + n
        bad = []
        for t, n in sorted(want.items()):
            if t not in now or t in deleting or any(
                    self.case.renamed.get(d) == t for d in deleting):
                continue
            existed = t in self.seed_counts or t in self.case.renamed.values()
            if now[t] != n if existed else now[t] < n:
                bad.append(f"{t}: {now[t]} rows, expected {'' if existed else 'at least '}"
                           f"{n} ({self.seed_counts.get(t, 0)} seed + inserted)")
        assert not bad, (f"{self.case.name} on {self.name}: rows lost or added "
                         f"{when}: " + "; ".join(bad))

    def check_schema(self, want, when):
        got = schema(self.db)
        diff = schema_diff(got, want)
        assert not diff, (f"{self.case.name} on {self.name}: the schema {when} "
                          f"differs:\n{diff}")

    def check_no_leftovers(self, before_schema, when):
        left = leftovers(self.db, before_schema)
        assert not left, (f"{self.case.name} on {self.name}: migrate left "
                          f"{', '.join(left)} {when}")


def _proc_cpu(pid, with_children):
    """CPU seconds of a process (and of its children it has reaped)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(f[11]) + int(f[12])         # utime, stime
    if with_children:
        ticks += int(f[13]) + int(f[14])    # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid):
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []


def server_cpu(server):
    """CPU seconds the server has used so far: PostgreSQL's postmaster
    with the backends it has reaped and the ones alive; mariadbd."""
    try:
        if hasattr(server, "datadir"):
            pid = int(Path(server.datadir, "postmaster.pid").read_text().split()[0])
            return _proc_cpu(pid, True) + sum(_proc_cpu(c, False) for c in _children(pid))
        d = Path(server.dir)
        root = Path((d / "root").read_text().strip()) if (d / "root").exists() else d
        pid = int((root / "mariadbd.pid").read_text().split()[0])
        return _proc_cpu(pid, True)
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def cpu_now(server):
    """CPU seconds used so far by this test process, the migrate processes
    it ran, and the server: what a check costs on a machine that other
    work slows down (its wall time there says little)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + server_cpu(server)


def kill_slice():
    """(size, seed) of the bounded slice of kill points to run, from
    MG_OPERATIONS_KILL_SLICE (0 or unset: every point) and
    MG_OPERATIONS_KILL_SEED (default: today's UTC day number, so the slice
    rotates from one day to the next and a failure can be repeated)."""
    size = int(os.environ.get("MG_OPERATIONS_KILL_SLICE", "0") or 0)
    seed = os.environ.get("MG_OPERATIONS_KILL_SEED")
    seed = int(seed) if seed else int(time.time() // 86400)
    return size, seed


def pick_slice(points, size, seed):
    """size points spread evenly over the list (so over the phases), from
    a place that moves by one with seed: in len(points) days every point
    has run; every point when size is 0 or covers them all."""
    if size <= 0 or size >= len(points):
        return list(points)
    start = seed % len(points)
    return [points[(start + j * len(points) // size) % len(points)]
            for j in range(size)]


def fail_case_format(case):
    bad = case.validate()
    if bad:
        pytest.fail(f"tests/operations/{case.name}: " + "; ".join(bad), pytrace=False)
