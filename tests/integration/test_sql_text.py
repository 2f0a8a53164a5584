"""SQL text from a migration file (issue 11, defect 7), on every target.

Types and expressions cannot be quoted, so they are checked before anything
changes: a type must be exactly one type name, an expression (default,
backfill, up, down, where) must be one expression that cannot end the
statement it is pasted into. Each hostile file below once dropped `victim`
or ran half a statement; now `plan` and `expand` exit 2 naming
file:line:column of the value, and the database is exactly as before.

PostgreSQL: the server parses a type and the plan shows it as the server
spells it; the plan transaction is rolled back, and no text reaches the
server in a form that could commit it.

MariaDB (both planner dialects): the mysql driver sends a step as one
multi-statement request, and used to check an expression by running it
that way at plan time: a `backfill:` that closed its SELECT dropped
`victim` during `plan`. Types were pasted as written. Now a type must fit a
strict grammar (and is rendered canonically); both are refused before
anything reaches the server.

The two databases' grammars differ (comments, quoting, collations,
character sets, enums), so each has its own list of hostile cases; a case
of the same name is the same attack written in that database's SQL.
"""

import json

import pytest

from test_bad_input import pos

HOSTILE_TYPE = "text; DROP TABLE victim; --"

SETUP = {
    "pg": ["CREATE TABLE t (id bigint PRIMARY KEY, a text, n int NOT NULL DEFAULT 0)",
           "INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 20) g",
           "CREATE TABLE victim (id int)",
           "INSERT INTO victim VALUES (1)"],
    "mysql": ["CREATE TABLE t (id bigint PRIMARY KEY, a text, n int NOT NULL DEFAULT 0)",
              "INSERT INTO t VALUES (1, 'x', 1), (2, 'y', 2), (3, NULL, 3)",
              "CREATE TABLE victim (id int)",
              "INSERT INTO victim VALUES (1)"],
}


def y(s):
    return json.dumps(s)


def op(kind, **fields):
    body = "".join(f"      {k}: {y(v)}\n"
                   for k, v in fields.items())
    return f"description: hostile\noperations:\n  - {kind}:\n{body}"


# name: (migration text, the field whose value the error must point at)
PG_CASES = {
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

MYSQL_CASES = {
    "add_type_statement": (op("add_column", table="t", column="c", type=HOSTILE_TYPE), "type"),
    "alter_type_statement": (op("alter_column", table="t", column="n", to="n2",
                                type=HOSTILE_TYPE, up="n", down="n2"), "type"),
    "add_type_comment": (op("add_column", table="t", column="c", type="text -- x"), "type"),
    "add_type_hash_comment": (op("add_column", table="t", column="c", type="text # x"), "type"),
    "add_type_block_comment": (op("add_column", table="t", column="c",
                                  type="int /*!50000 DEFAULT 1 */"), "type"),
    "add_type_paren": (op("add_column", table="t", column="c",
                          type="varchar(20)) ; DROP TABLE victim; --"), "type"),
    "add_type_unknown": (op("add_column", table="t", column="c", type="nosuchtype"), "type"),
    "add_type_default_clause": (op("add_column", table="t", column="c",
                                   type="int DEFAULT 1"), "type"),
    "add_type_generated": (op("add_column", table="t", column="c",
                              type="int AS (id) VIRTUAL"), "type"),
    "enum_breaks_out": (op("add_column", table="t", column="c",
                           type="enum('a\\'); DROP TABLE victim; --')"), "type"),
    "charset_not_a_name": (op("add_column", table="t", column="c",
                              type="varchar(20) CHARACTER SET 'utf8mb4'"), "type"),
    "charset_unknown": (op("add_column", table="t", column="c",
                           type="varchar(20) CHARACTER SET nosuchset"), "type"),
    "collation_unknown": (op("add_column", table="t", column="c",
                             type="varchar(20) COLLATE nosuch_bin"), "type"),
    "backfill_closes_select": (op("add_column", table="t", column="c", type="int",
                                  backfill="1) FROM t LIMIT 0; DROP TABLE victim; SELECT (1"),
                               "backfill"),
    "default_second_clause": (op("add_column", table="t", column="c", type="int",
                                 default="0, DROP COLUMN a"), "default"),
    "backslash_string": (op("add_column", table="t", column="c", type="text",
                            default="'x\\'; DROP TABLE victim; -- '"), "default"),
    "up_comment": (op("alter_column", table="t", column="n", to="n2", type="bigint",
                      up="n # ", down="n2"), "up"),
    "down_statement": (op("alter_column", table="t", column="n", to="n2", type="bigint",
                          up="n", down="n2; DROP TABLE victim"), "down"),
    "drop_down_statement": (op("drop_column", table="t", column="a",
                               down="'x'); DROP TABLE victim; --"), "down"),
}

CASES = {"pg": PG_CASES, "mysql": MYSQL_CASES}


def create_tables(target):
    for s in SETUP[target.kind]:
        target.execute(s)


def mysql_columns(db):
    return db.query("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' "
                    "ORDER BY ORDINAL_POSITION")


def catalog(target):
    """What must not change: PostgreSQL's whole catalog snapshot; on
    MariaDB the tables and t's columns (the harness has no catalog
    snapshot for MariaDB: DDL there cannot be half-done in a rolled-back
    transaction, so tables and columns show any change)."""
    if target.is_pg:
        return target.db.snapshot()
    return sorted(target.db.tables()), mysql_columns(target.db)


@pytest.mark.both_dialects
@pytest.mark.target_cases("case", {k: sorted(v) for k, v in CASES.items()})
def test_hostile_text_is_refused_before_anything_changes(target, case):
    text, field = CASES[target.kind][case]
    project = target.project
    create_tables(target)
    before = catalog(target)
    path = project.write("0001_hostile.yaml", text)
    body = path.read_text()
    line, col = pos(body, f"{field}: ")
    col += len(f"{field}: ")

    for cmd in ("plan", "expand"):
        r = project.expect(2, cmd)
        assert f"0001_hostile.yaml:{line}:{col}" in r.err, r.describe()
        assert "hint:" in r.err, r.describe()
    assert target.query("SELECT count(*) FROM victim") == [(1,)]
    assert catalog(target) == before
    assert target.db.history_rows() == 0


# Legitimate types: each database's own spellings, the canonical form the
# plan must show, and the type the column then has in the catalog.
TYPES = {
    "pg": dict(
        migration="""
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
            """,
        in_plan=("character varying(20)", "numeric(10,2)", "timestamp with time zone",
                 "integer[]", "character varying(8)[]", "timestamp(3) with time zone",
                 "bigint", 'text COLLATE "C"'),
        columns={"v": "character varying(20)", "m": "numeric(10,2)",
                 "ts": "timestamp with time zone", "arr": "integer[]",
                 "vs": "character varying(8)[]", "tz": "timestamp(3) with time zone",
                 "n2": "bigint"}),
    "mysql": dict(
        migration="""
            description: legitimate types
            operations:
              - add_column: {table: t, column: v, type: "varchar(20) CHARACTER SET utf8mb4"}
              - add_column: {table: t, column: vc, type: "VARCHAR(20) charset utf8mb4 COLLATE utf8mb4_bin"}
              - add_column: {table: t, column: e, type: "enum('a','b', 'it''s')"}
              - add_column: {table: t, column: u, type: bigint unsigned}
              - add_column: {table: t, column: d, type: "decimal(10, 2)", default: "1.5"}
              - add_column: {table: t, column: dt, type: datetime(3)}
              - add_column: {table: t, column: dp, type: double precision}
              - alter_column: {table: t, column: n, to: n2, type: bigint, up: "n", down: "n2"}
            """,
        in_plan=("varchar(20) character set utf8mb4",
                 "varchar(20) character set utf8mb4 collate utf8mb4_bin",
                 "enum('a','b','it''s')", "bigint unsigned", "decimal(10,2)",
                 "datetime(3)"),
        columns={"v": "varchar(20)", "e": "enum('a','b','it''s')",
                 "u": "bigint(20) unsigned", "d": "decimal(10,2)",
                 "dt": "datetime(3)", "dp": "double", "n2": "bigint(20)"}),
}


def column_types(target):
    if target.is_pg:
        return dict(target.query(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped"))
    return dict(mysql_columns(target.db))


def assert_collations(target):
    if target.is_pg:
        assert target.query(
            "SELECT collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE attrelid = 't'::regclass AND attname = 'tc'") == [("C",)]
        return
    coll = dict(target.query(
        "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'"))
    assert coll["vc"] == "utf8mb4_bin"
    assert coll["v"].startswith("utf8mb4_")


@pytest.mark.both_dialects
def test_types_are_checked_and_shown_canonically(target):
    """PostgreSQL: the server checks a type and the plan shows it as the
    server spells it. MariaDB: a type fitting the grammar works and is
    shown canonically."""
    types = TYPES[target.kind]
    project = target.project
    create_tables(target)
    project.write("0001_types.yaml", types["migration"])
    plan = project.ok("plan").out
    for canonical in types["in_plan"]:
        assert canonical in plan, plan
    project.ok("expand")
    got = column_types(target)
    for column, want in types["columns"].items():
        assert got[column] == want, (column, got)
    assert_collations(target)
    assert target.query("SELECT count(*) FROM victim") == [(1,)]


# The two scenarios below existed for PostgreSQL only (a partial index's
# WHERE and a sql step's COMMIT inside plan's transaction are PostgreSQL
# matters: MariaDB has neither partial indexes nor transactional DDL).

@pytest.mark.targets("postgres")
def test_where_over_a_column_added_earlier_in_the_migration(target):
    """The column does not exist while planning: the text is checked, the
    server checks the rest at expand."""
    project = target.project
    create_tables(target)
    project.write("0001_idx.yaml", """
        description: index a new column
        operations:
          - add_column: {table: t, column: b, type: int}
          - create_index: {table: t, name: t_b_part, columns: [b], where: "b > 0"}
        """)
    project.ok("expand")
    assert target.query(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 't_b_part'") == [(1,)]


@pytest.mark.targets("postgres")
def test_a_sql_step_cannot_commit_the_plan_transaction(target):
    """`plan` runs the expand SQL of a sql step in a transaction it rolls
    back; a COMMIT in it made plan commit, and what followed ran outside
    any transaction (victim was dropped by `migrate plan`)."""
    project = target.project
    create_tables(target)
    before = catalog(target)
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
    assert target.query("SELECT count(*) FROM victim") == [(1,)]
    assert catalog(target) == before
