"""Bad migration files (design §3, issue point 3): `migrate expand` exits 2,
the error names file:line:column, and the database is untouched — the
catalog is checked before any change."""

import re

import pytest

from conftest import RENAME_FILE, RENAME_YAML, seed_users


def pos(text, needle, nth=0):
    """1-based (line, column) of the nth occurrence of needle in text."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


# Each case: files to write {name: text}, the file the error must name, and
# the positions (needles in that file) any of which is an acceptable
# file:line:column. The first needle is where the error really is; the
# others are the enclosing key/mapping an implementation may reasonably
# point at instead. An empty needle list means "any line:column".
CASES = {
    "unknown_key_in_operation": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              - rename_column:
                  table: users
                  from: user_name
                  to: username
                  colour: blue
            """},
        "0001_rename.yaml", ["colour:"]),
    "unknown_top_level_key": (
        {"0001_rename.yaml": """
            description: rename
            operatoins:
              - rename_column:
                  table: users
                  from: user_name
                  to: username
            """},
        "0001_rename.yaml", ["operatoins:"]),
    "missing_key": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              - rename_column:
                  table: users
                  from: user_name
            """},
        "0001_rename.yaml", ["rename_column:", "table:"]),
    "missing_operations": (
        {"0001_rename.yaml": """
            description: rename
            """},
        "0001_rename.yaml", ["description:"]),
    "wrong_type_nullable": (
        {"0001_add.yaml": """
            description: add
            operations:
              - add_column:
                  table: users
                  column: nickname
                  type: text
                  nullable: maybe
            """},
        "0001_add.yaml", ["maybe", "nullable:"]),
    "wrong_type_operations_not_a_list": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              rename_column:
                table: users
                from: user_name
                to: username
            """},
        "0001_rename.yaml", ["rename_column:", "operations:"]),
    "duplicate_id": (
        {"0003_a.yaml": RENAME_YAML,
         "0003_b.yaml": """
            description: add
            operations:
              - add_column:
                  table: users
                  column: nickname
                  type: text
            """},
        "0003_a.yaml", []),
    "badly_named_file": (
        {"3_x.yaml": RENAME_YAML},
        "3_x.yaml", []),
    "unknown_operation": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              - rename_colum:
                  table: users
                  from: user_name
                  to: username
            """},
        "0001_rename.yaml", ["rename_colum:"]),
    "yaml_syntax_error": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              - rename_column:
                  table: users: x
                  from: user_name
                  to: username
            """},
        # libyaml: "mapping values are not allowed in this context" at the
        # second colon
        "0001_rename.yaml", [": x"]),
    "table_does_not_exist": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              - rename_column:
                  table: userz
                  from: user_name
                  to: username
            """},
        "0001_rename.yaml", ["userz", "table:"]),
    "column_does_not_exist": (
        {"0001_rename.yaml": """
            description: rename
            operations:
              - rename_column:
                  table: users
                  from: usr_name
                  to: username
            """},
        "0001_rename.yaml", ["usr_name", "from:"]),
    "add_column_that_exists": (
        {"0001_add.yaml": """
            description: add
            operations:
              - add_column:
                  table: users
                  column: email
                  type: text
            """},
        "0001_add.yaml", ["email\n", "column:", "add_column:"]),
    "second_operation_bad_first_fine": (
        {"0001_two.yaml": """
            description: two steps, the second one wrong
            operations:
              - add_column:
                  table: users
                  column: nickname
                  type: text
              - rename_column:
                  table: users
                  from: no_such_column
                  to: username
            """},
        "0001_two.yaml", ["no_such_column", "from:"]),
    "bad_file_is_not_the_next_one": (
        {RENAME_FILE: RENAME_YAML,
         "0002_add.yaml": """
            description: add
            operations:
              - add_column:
                  table: users
                  colum: nickname
                  type: text
            """},
        "0002_add.yaml", ["colum:"]),
}


@pytest.fixture
def seeded(project):
    seed_users(project.db)
    return project


def _assert_untouched(p, before):
    assert p.db.snapshot() == before, "the database was changed"
    assert p.db.history_rows() == 0, "_migrate_history has rows"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file(seeded, case):
    p = seeded
    files, bad, needles = CASES[case]
    for name, text in files.items():
        p.write(name, text)
    before = p.db.snapshot()

    r = p.expect(2, "expand")

    assert bad in r.err, f"stderr does not name {bad}\n" + r.describe()
    if needles:
        body = (p.migrations / bad).read_text()
        wanted = [f"{bad}:{ln}:{col}" for ln, col in (pos(body, n) for n in needles)]
        assert any(w in r.err for w in wanted), (
            f"stderr names none of {wanted}\n" + r.describe())
    else:
        assert re.search(re.escape(bad) + r":\d+:\d+", r.err), (
            f"stderr does not name {bad}:LINE:COL\n" + r.describe())
    if case == "duplicate_id":
        assert "0003_b.yaml" in r.err, "both files of a duplicate id must be named"
    _assert_untouched(p, before)

    # the same with an explicit id, and for a read-only command
    p.expect(2, "expand", "1" if "0003" not in bad and bad != "3_x.yaml" else "3")
    p.expect(2, "plan")
    _assert_untouched(p, before)


@pytest.mark.parametrize("argv", [["expand", "99"], ["expand", "0099"],
                                  ["expand", "not-an-id"],
                                  ["backfill", "99"], ["plan", "99"],
                                  ["rollback", "99"]])
def test_unknown_migration_id(seeded, argv):
    p = seeded
    p.write(RENAME_FILE, RENAME_YAML)
    before = p.db.snapshot()
    p.expect(2, *argv)
    _assert_untouched(p, before)


def test_missing_migrations_dir(seeded):
    p = seeded
    p.migrations.rmdir()
    before = p.db.snapshot()
    r = p.expect(2, "expand")
    assert "migrations" in r.err, r.describe()
    _assert_untouched(p, before)


def test_good_file_after_fix(seeded):
    """After a refused file is fixed, expand works (nothing was recorded)."""
    p = seeded
    p.write(RENAME_FILE, CASES["column_does_not_exist"][0]["0001_rename.yaml"])
    p.expect(2, "expand")
    p.write(RENAME_FILE, RENAME_YAML)
    p.ok("expand")
    assert p.phases() == {1: "expanded"}
