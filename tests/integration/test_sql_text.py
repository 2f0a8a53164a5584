"""SQL text from a migration file on PostgreSQL (issue 11, defect 7).

Types and expressions cannot be quoted, so they are checked before anything
changes: a type must be exactly one type name (the server parses it and the
plan shows it as the server spells it), an expression (default, backfill,
up, down, where) must be one expression that cannot end the statement it is
pasted into. Each hostile file below once dropped `victim` or ran half a
statement; now `expand` exits 2 naming file:line:column of the value, and
the database is exactly as before (the plan transaction is rolled back, and
no text reaches the server in a form that could commit it).
"""

import json

import pytest

from test_bad_input import pos

HOSTILE_TYPE = "text; DROP TABLE victim; --"

SETUP = """
CREATE TABLE t (id bigint PRIMARY KEY, a text, n int NOT NULL DEFAULT 0);
INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 20) g;
CREATE TABLE victim (id int);
INSERT INTO victim VALUES (1);
"""


def y(s):
    return json.dumps(s)


def op(kind, **fields):
    body = "".join(f"      {k}: {y(v)}\n"
                   for k, v in fields.items())
    return f"description: hostile\noperations:\n  - {kind}:\n{body}"


# name: (migration text, the field whose value the error must point at)
CASES = {
    "add_type_statement": (op("add_column", table="t", column="c", type=HOSTILE_TYPE), "type"),
    "alter_type_statement": (op("alter_column", table="t", column="n", to="n2",
                                type=HOSTILE_TYPE, up="n", down="n2"), "type"),
    "add_type_comment": (op("add_column", table="t", column="c", type="text --"), "type"),
    "add_type_block_comment": (op("add_column", table="t", column="c",
                                  type="int /* DEFAULT 1 */"), "type"),
    "add_type_paren": (op("add_column", table="t", column="c",
                          type="varchar(20)) ; DROP TABLE victim; --"), "type"),
    "add_type_two_words": (op("add_column", table="t", column="c", type="int primary"), "type"),
    "add_type_unknown": (op("add_column", table="t", column="c", type="nosuchtype"), "type"),
    "add_type_default_clause": (op("add_column", table="t", column="c",
                                   type="int DEFAULT 1"), "type"),
    "collate_statement": (op("add_column", table="t", column="c",
                             type='text COLLATE "C"; DROP TABLE victim; --'), "type"),
    "collate_two_names": (op("add_column", table="t", column="c",
                             type='text COLLATE "C" NOT NULL'), "type"),
    "collate_unknown": (op("add_column", table="t", column="c",
                           type="text COLLATE no_such_collation"), "type"),
    "where_statement": (op("create_index", table="t", name="i", columns=["a"],
                           where="a IS NOT NULL; DROP TABLE victim; --"), "where"),
    "where_closes_paren": (op("create_index", table="t", name="i", columns=["a"],
                              where="true) --"), "where"),
    "where_not_boolean": (op("create_index", table="t", name="i", columns=["a"],
                             where="a"), "where"),
    "where_unknown_column": (op("create_index", table="t", name="i", columns=["a"],
                                where="zzz > 1"), "where"),
    "where_two_expressions": (op("create_index", table="t", name="i", columns=["a"],
                                 where="true, a"), "where"),
    "method_statement": (op("create_index", table="t", name="i", columns=["a"],
                            method="btree (a); DROP TABLE victim; --"), "method"),
    "backfill_commits": (op("add_column", table="t", column="c", type="int",
                            backfill="1) FROM t LIMIT 0; COMMIT; DROP TABLE victim; SELECT (1"),
                         "backfill"),
    "default_second_clause": (op("add_column", table="t", column="c", type="int",
                                 default="0, DROP COLUMN a"), "default"),
    "default_dollar_quote": (op("add_column", table="t", column="c", type="text",
                                default="$mg_fn$ x $mg_fn$"), "default"),
    "up_comment": (op("alter_column", table="t", column="n", to="n2", type="bigint",
                      up="n -- ", down="n2"), "up"),
    "down_statement": (op("alter_column", table="t", column="n", to="n2", type="bigint",
                          up="n", down="n2::int; DROP TABLE victim"), "down"),
    "drop_down_statement": (op("drop_column", table="t", column="a",
                               down="'x'); DROP TABLE victim; --"), "down"),
    "unclosed_string": (op("add_column", table="t", column="c", type="text",
                           default="'x"), "default"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_text_is_refused_before_anything_changes(project, case):
    text, field = CASES[case]
    project.db.execute(SETUP)
    before = project.db.snapshot()
    path = project.write("0001_hostile.yaml", text)
    body = path.read_text()
    line, col = pos(body, f"{field}: ")
    col += len(f"{field}: ")

    for cmd in ("plan", "expand"):
        r = project.expect(2, cmd)
        assert f"0001_hostile.yaml:{line}:{col}" in r.err, r.describe()
        assert "hint:" in r.err, r.describe()
    assert project.db.query("SELECT count(*) FROM victim") == [(1,)]
    assert project.db.snapshot() == before
    assert project.db.history_rows() == 0


def test_types_are_checked_by_the_server_and_shown_as_it_spells_them(project):
    project.db.execute(SETUP)
    project.write("0001_types.yaml", """
        description: legitimate types
        operations:
          - add_column: {table: t, column: v, type: varchar(20)}
          - add_column: {table: t, column: m, type: "numeric(10, 2)", default: "1.5"}
          - add_column: {table: t, column: ts, type: timestamptz}
          - add_column: {table: t, column: arr, type: "int[]"}
          - add_column: {table: t, column: vs, type: "character varying(8)[]"}
          - add_column: {table: t, column: tz, type: timestamp(3) with time zone}
          - add_column: {table: t, column: tc, type: 'text COLLATE "C"'}
          - alter_column: {table: t, column: n, to: n2, type: bigint, up: "n", down: "n2::int"}
          - create_index: {table: t, name: t_a_part, columns: [a], where: "a IS NOT NULL AND a <> ''"}
        """)
    plan = project.ok("plan").out
    for canonical in ("character varying(20)", "numeric(10,2)", "timestamp with time zone",
                      "integer[]", "character varying(8)[]", "timestamp(3) with time zone",
                      "bigint", 'text COLLATE "C"'):
        assert canonical in plan, plan
    project.ok("expand")
    rows = dict(project.db.query(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped"))
    assert rows["v"] == "character varying(20)"
    assert rows["m"] == "numeric(10,2)"
    assert rows["ts"] == "timestamp with time zone"
    assert rows["arr"] == "integer[]"
    assert rows["vs"] == "character varying(8)[]"
    assert rows["tz"] == "timestamp(3) with time zone"
    assert rows["n2"] == "bigint"
    assert project.db.query(
        "SELECT collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
        "WHERE attrelid = 't'::regclass AND attname = 'tc'") == [("C",)]
    assert project.db.query("SELECT count(*) FROM victim") == [(1,)]


def test_where_over_a_column_added_earlier_in_the_migration(project):
    """The column does not exist while planning: the text is checked, the
    server checks the rest at expand."""
    project.db.execute(SETUP)
    project.write("0001_idx.yaml", """
        description: index a new column
        operations:
          - add_column: {table: t, column: b, type: int}
          - create_index: {table: t, name: t_b_part, columns: [b], where: "b > 0"}
        """)
    project.ok("expand")
    assert project.db.query(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 't_b_part'") == [(1,)]


def test_a_sql_step_cannot_commit_the_plan_transaction(project):
    """`plan` runs the expand SQL of a sql step in a transaction it rolls
    back; a COMMIT in it made plan commit, and what followed ran outside
    any transaction (victim was dropped by `migrate plan`)."""
    project.db.execute(SETUP)
    before = project.db.snapshot()
    path = project.write("0001_commit.yaml", """
        description: a sql step that commits
        operations:
          - sql:
              expand: "CREATE TABLE audit (id int); COMMIT; DROP TABLE victim"
              rollback: "DROP TABLE audit"
        """)
    line, col = pos(path.read_text(), "sql:")
    for cmd in ("plan", "expand"):
        r = project.expect(2, cmd)
        assert "has a commit statement" in r.err, r.describe()
        assert f"0001_commit.yaml:{line}:{col}" in r.err, r.describe()
    assert project.db.query("SELECT count(*) FROM victim") == [(1,)]
    assert project.db.snapshot() == before
