"""create_index's options and drop_index (issue 13), on every target.

- End to end under traffic: one migration builds an index with options
  (PostgreSQL: opclass, collation, descending with NULLS LAST, INCLUDE,
  storage parameters; MariaDB: a descending key part), a unique index made
  a UNIQUE constraint, and drops an existing index; the old version (blue)
  writes through every phase, the new one (green) from the end of expand;
  no write fails. The catalog is checked after each phase: the new index
  has each option, the constraint exists (PostgreSQL: backed by the index),
  the dropped index stays until contract and is gone after it.
- rollback from every phase before contract restores the exact schema.
- migrate killed after every step of expand and contract (the MariaDB
  targets also before the step's history row), then the same command run
  again: the end state is exactly that of a run without kills.
- bad options and indexes that cannot be dropped: exit 2 at the option's
  (or the name's) file:line:column, for plan and expand, changing nothing.
"""

import random

import pytest

from test_bad_input import pos
from mysql_scenarios import schema_snapshot
from writers import Writer, fetch, running, wait_for_ops

KILLED = (-9, 137)
SEED = 2000
FILE = "0001_index_ops.yaml"

DDL = {
    "pg": [
        "CREATE TABLE docs (id bigserial PRIMARY KEY, title text NOT NULL,"
        " body text, rank int, code text NOT NULL)",
        "INSERT INTO docs (title, body, rank, code) SELECT 'title-' || g,"
        " 'body-' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE g % 100 END,"
        " 'seed-' || g FROM generate_series(1, {n}) g",
        "CREATE INDEX docs_rank_idx ON docs (rank)",
    ],
    "mysql": [
        "CREATE TABLE docs (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " title varchar(100) NOT NULL, body varchar(200), `rank` int,"
        " code varchar(40) NOT NULL, KEY docs_rank_idx (`rank`)) ENGINE=InnoDB",
        "INSERT INTO docs (title, body, `rank`, code) SELECT CONCAT('title-', seq),"
        " CONCAT('body-', seq), IF(seq % 10 = 0, NULL, seq % 100),"
        " CONCAT('seed-', seq) FROM seq_1_to_{n}",
    ],
}

MIGRATION = {
    "pg": """
description: index options, a unique constraint from an index, an index dropped
operations:
  - create_index:
      table: docs
      name: docs_title_rank
      columns:
        - {name: title, collate: C, opclass: text_pattern_ops}
        - {name: rank, order: desc, nulls: last}
      include: [body]
      storage: {fillfactor: 70, deduplicate_items: off}
  - create_index:
      table: docs
      name: docs_code_key
      columns: [code]
      unique: true
      constraint: true
  - drop_index:
      table: docs
      name: docs_rank_idx
""",
    "mysql": """
description: a descending index, a unique index (the constraint), an index dropped
operations:
  - create_index:
      table: docs
      name: docs_title_rank
      columns:
        - title
        - {name: rank, order: desc, nulls: last}
  - create_index:
      table: docs
      name: docs_code_key
      columns: [code]
      unique: true
      constraint: true
  - drop_index:
      table: docs
      name: docs_rank_idx
""",
}


def setup_docs(db, n=SEED):
    for sql in DDL[db.kind]:
        db.execute(sql.replace("{n}", str(n)))
    return dict(db.query("SELECT id, code FROM docs"))


def snapshot(db):
    return schema_snapshot(db) if db.kind == "mysql" else db.snapshot()


def index_names(db):
    if db.kind == "mysql":
        return {r[0] for r in db.admin_query(
            "SELECT DISTINCT index_name FROM information_schema.statistics"
            " WHERE table_schema = %s AND table_name = 'docs'", (db.name,))}
    return {r[0] for r in db.query(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'docs'::regclass AND i.indisvalid")}


def assert_options_built(db):
    """The new index has each option the file gives it, and the code is
    unique through a constraint (PostgreSQL: the constraint owns the
    index; MariaDB: the UNIQUE index is the constraint)."""
    if db.kind == "mysql":
        parts = db.admin_query(
            "SELECT column_name, collation FROM information_schema.statistics"
            " WHERE table_schema = %s AND index_name = 'docs_title_rank'"
            " ORDER BY seq_in_index", (db.name,))
        assert [tuple(p) for p in parts] == [("title", "A"), ("rank", "D")], parts
        cons = db.admin_query(
            "SELECT constraint_type FROM information_schema.table_constraints"
            " WHERE table_schema = %s AND constraint_name = 'docs_code_key'",
            (db.name,))
        assert [tuple(c) for c in cons] == [("UNIQUE",)], cons
        return
    [(idx, opts)] = db.query(
        "SELECT pg_get_indexdef(c.oid), c.reloptions::text FROM pg_class c"
        " WHERE c.relname = 'docs_title_rank'")
    assert ('(title COLLATE "C" text_pattern_ops, rank DESC NULLS LAST)'
            ' INCLUDE (body)') in idx, idx
    assert opts == "{fillfactor=70,deduplicate_items=off}", opts
    assert db.query(
        "SELECT con.contype, i.indisunique, i.indisvalid FROM pg_constraint con"
        " JOIN pg_index i ON i.indexrelid = con.conindid"
        " WHERE con.conname = 'docs_code_key'"
        " AND con.conrelid = 'docs'::regclass") == [("u", True, True)]


def doc_writer(db, colour, owned=None):
    """Inserts docs with a code of its own and updates the code, title and
    rank of docs it owns; reads its last write back."""
    def insert(conn, i):
        code = "%s-%d-%d" % (colour, i, random.randrange(10 ** 9))
        row = fetch(conn, "INSERT INTO docs (title, body, %s, code)"
                          " VALUES (%%s, %%s, %%s, %%s) RETURNING id"
                          % ("`rank`" if db.kind == "mysql" else "rank"),
                    ("t-" + code, "b", i % 50 or None, code))[0]
        return row[0], code

    def update(conn, rng, row_id, last):
        seen = fetch(conn, "SELECT code FROM docs WHERE id = %s", (row_id,))
        assert seen == [(last,)], "%s reads back %r, wrote %r" % (colour, seen, last)
        code = "%s-u%d-%d" % (colour, row_id, rng.randrange(10 ** 12))
        fetch(conn, "UPDATE docs SET code = %s, title = %s WHERE id = %s",
              (code, "t-" + code, row_id))
        return code

    pace = {"sleep": (0.0005, 0.002)} if db.kind == "mysql" else {}
    return Writer(db.connect, colour, insert, update, owned=owned, **pace)


def step(project, command, state):
    project.ok(command, "1")
    assert project.phases().get(1) == state, (command, project.phases())


def start(target, label, n=SEED):
    db = target.new_database(label)
    seeded = setup_docs(db, n)
    project = target.make_project(db, label)
    project.write(FILE, MIGRATION[db.kind])
    return db, project, seeded


@pytest.mark.both_dialects
def test_index_options_and_drop_end_to_end(target):
    db, project, seeded = start(target, "e2e")
    try:
        plan = project.ok("plan", "1").out
        if target.name == "postgres":
            assert ('"title" COLLATE "C" "text_pattern_ops", "rank" DESC NULLS LAST)'
                    ' INCLUDE ("body") WITH (fillfactor = 70, deduplicate_items = \'off\')'
                    ) in plan, plan
            assert 'ADD CONSTRAINT "docs_code_key" UNIQUE USING INDEX "docs_code_key"' in plan
            assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."docs_rank_idx"' in plan
        else:
            assert "`rank` DESC" in plan, plan
            assert "a UNIQUE index is the table's UNIQUE constraint" in plan, plan
            assert "DROP INDEX" in plan and "`docs_rank_idx`" in plan, plan
        blue = doc_writer(db, "blue", owned=seeded)
        green = doc_writer(db, "green")
        with running(blue) as blue_run:
            wait_for_ops(blue, 20)
            step(project, "expand", "expanded")
            assert_options_built(db)
            assert "docs_rank_idx" in index_names(db)
            with running(green):
                for command, state in (("backfill", "backfilled"),
                                       ("switch-reads", "switched")):
                    wait_for_ops(blue, 10)
                    wait_for_ops(green, 10)
                    step(project, command, state)
                    assert "docs_rank_idx" in index_names(db), command
                wait_for_ops(blue, 10)
                blue_run.finish()
                step(project, "contract", "contracted")
                wait_for_ops(green, 10)
        assert not blue.errors and not green.errors, (blue.errors, green.errors)
        assert_options_built(db)
        assert "docs_rank_idx" not in index_names(db)
        assert {"docs_title_rank", "docs_code_key"} <= index_names(db)
        total = SEED + len(blue.inserted) + len(green.inserted)
        assert db.query("SELECT count(*) FROM docs") == [(total,)]
    finally:
        db.drop()


@pytest.mark.both_dialects
@pytest.mark.parametrize("until", ["expand", "backfill", "switch-reads"])
def test_index_rollback_restores_the_schema(target, until):
    db, project, _ = start(target, "rb_" + until.replace("-", "_"), 200)
    try:
        before = snapshot(db)
        for command in ("expand", "backfill", "switch-reads"):
            project.ok(command, "1")
            if command == until:
                break
        project.ok("rollback", "1")
        assert project.phases().get(1) == "pending"
        assert snapshot(db) == before
        assert "docs_rank_idx" in index_names(db)
    finally:
        db.drop()


def phase_steps(target, phase):
    db, project, _ = start(target, "steps_" + phase, 10)
    try:
        [mig] = [m for m in project.json("plan", "1")["migrations"] if m["id"] == 1]
        return len(mig["phases"][phase])
    finally:
        db.drop()


def run_all(project, kill=None):
    """expand .. contract; kill = (phase, fault) kills that phase once,
    then runs it again."""
    for command in ("expand", "backfill", "switch-reads", "contract"):
        if kill and kill[0] == command:
            r = project.run(command, "1", fault=kill[1])
            assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()
        project.ok(command, "1")


@pytest.mark.both_dialects
def test_index_kill_at_every_step_then_rerun(target):
    db, project, _ = start(target, "clean", 100)
    try:
        run_all(project)
        end = snapshot(db)
    finally:
        db.drop()
    windows = ["%s:%d"]
    if target.is_mysql:
        windows.append("%s-unrecorded:%d")
    for phase in ("expand", "contract"):
        for k in range(1, phase_steps(target, phase) + 1):
            for w in windows:
                fault = w % (phase, k)
                label = "kill_" + fault.replace(":", "_").replace("-", "_")
                db, project, _ = start(target, label, 100)
                try:
                    run_all(project, (phase, fault))
                    assert snapshot(db) == end, fault
                    assert project.phases().get(1) == "contracted"
                finally:
                    db.drop()


BAD = {
    "pg": {
        "opclass": ("columns: [{name: title, opclass: text_patern_ops}]",
                    "text_patern_ops", "unknown operator class"),
        "storage": ("columns: [title]\n      storage: {fillfactor: 5}",
                    "5}", "out of bounds"),
        "order_hash": ("columns: [{name: title, order: desc}]\n      method: hash",
                      "desc", "does not sort"),
        "drop_constraint_index": (None, "docs_pkey", "use drop_constraint"),
    },
    "mysql": {
        "include": ("columns: [title]\n      include: [body]", "[body]",
                    "no included columns"),
        "storage": ("columns: [title]\n      storage: {fillfactor: 70}",
                    "{fillfactor", "no per-index storage parameters"),
        "nulls": ("columns: [{name: rank, nulls: last}]", "last",
                  "'nulls: last' cannot be said"),
        "drop_missing": (None, "docs_nope_idx", "no index of that name"),
    },
}


@pytest.mark.target_cases("case", {"pg": sorted(BAD["pg"]),
                                   "mysql": sorted(BAD["mysql"])})
def test_index_refused_with_position(target, case):
    db, project = target.db, target.project
    setup_docs(db, 20)
    body, needle, words = BAD[target.kind][case]
    if body is None:
        text = ("operations:\n  - drop_index:\n      table: docs\n"
                "      name: %s\n" % needle)
    else:
        text = ("operations:\n  - create_index:\n      table: docs\n"
                "      name: docs_bad_idx\n      %s\n" % body)
    path = project.write("0001_bad.yaml", text)
    text = path.read_text()
    before = snapshot(db)
    for args in (("plan", "1"), ("expand", "1")):
        r = project.expect(2, *args)
        where = "0001_bad.yaml:%d:%d" % pos(text, needle)
        assert where in r.err, "expected %s\n" % where + r.describe()
        assert words in r.err, r.describe()
    assert snapshot(db) == before
    assert project.phases().get(1) == "pending"
