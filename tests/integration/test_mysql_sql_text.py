"""SQL text from a migration file on MariaDB, in both planner dialects
(issue 11, defect 7).

The mysql driver sends a step as one multi-statement request, and used to
check an expression by running it that way at plan time: a `backfill:`
that closed its SELECT dropped `victim` during `plan`. Types were pasted as
written. Now a type must fit a strict grammar (and is rendered canonically),
an expression must be one expression that cannot end its statement; both
are refused with exit 2 at file:line:column of the value before anything
reaches the server.
"""

import json

import pytest

from test_bad_input import pos

HOSTILE_TYPE = "text; DROP TABLE victim; --"

SETUP = [
    "CREATE TABLE t (id bigint PRIMARY KEY, a text, n int NOT NULL DEFAULT 0)",
    "INSERT INTO t VALUES (1, 'x', 1), (2, 'y', 2), (3, NULL, 3)",
    "CREATE TABLE victim (id int)",
    "INSERT INTO victim VALUES (1)",
]


def y(s):
    return json.dumps(s)


def op(kind, **fields):
    body = "".join(f"      {k}: {y(v)}\n" for k, v in fields.items())
    return f"description: hostile\noperations:\n  - {kind}:\n{body}"


CASES = {
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


def columns(mdb):
    return mdb.query("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                     "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' "
                     "ORDER BY ORDINAL_POSITION")


@pytest.mark.both_dialects
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_text_is_refused_before_anything_changes(mysql_project, case):
    text, field = CASES[case]
    mdb = mysql_project.db
    for s in SETUP:
        mdb.execute(s)
    before = (sorted(mdb.tables()), columns(mdb))
    path = mysql_project.write("0001_hostile.yaml", text)
    body = path.read_text()
    line, col = pos(body, f"{field}: ")
    col += len(f"{field}: ")

    for cmd in ("plan", "expand"):
        r = mysql_project.expect(2, cmd)
        assert f"0001_hostile.yaml:{line}:{col}" in r.err, r.describe()
        assert "hint:" in r.err, r.describe()
    assert mdb.query("SELECT count(*) FROM victim") == [(1,)]
    assert (sorted(mdb.tables()), columns(mdb)) == before
    assert mdb.history_rows() == 0


@pytest.mark.both_dialects
def test_types_by_the_grammar_work_and_are_shown_canonically(mysql_project):
    mdb = mysql_project.db
    for s in SETUP:
        mdb.execute(s)
    mysql_project.write("0001_types.yaml", """
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
        """)
    plan = mysql_project.ok("plan").out
    for canonical in ("varchar(20) character set utf8mb4",
                      "varchar(20) character set utf8mb4 collate utf8mb4_bin",
                      "enum('a','b','it''s')", "bigint unsigned", "decimal(10,2)",
                      "datetime(3)"):
        assert canonical in plan, plan
    mysql_project.ok("expand")
    got = dict(columns(mdb))
    assert got["v"] == "varchar(20)"
    assert got["e"] == "enum('a','b','it''s')"
    assert got["u"] == "bigint(20) unsigned"
    assert got["d"] == "decimal(10,2)"
    assert got["dt"] == "datetime(3)"
    assert got["dp"] == "double"
    assert got["n2"] == "bigint(20)"
    coll = dict(mdb.query("SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                          "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'"))
    assert coll["vc"] == "utf8mb4_bin"
    assert coll["v"].startswith("utf8mb4_")
    assert mdb.query("SELECT count(*) FROM victim") == [(1,)]
