"""The catalog as it will be (issue 13): every operation of a migration is
checked against the catalog as the operations before it in the same
migration leave it, and runs against it, on every target.

- An expand sql step fills a column an earlier add_column adds, and a
  create_index builds an index over it: plan accepts it (PostgreSQL ran
  the step's SQL in its planning transaction and failed before: the column
  did not exist there), expand runs it, every row has its value and the
  index is there; switch-reads and contract finish; rollback after expand
  restores the exact schema.
- PostgreSQL: a partial index whose where: is over a column an earlier
  operation adds is built at expand; a typo in such a where: is refused at
  plan (exit 2 at the key), where before it was let through to expand.
- A column dropped or renamed away earlier is refused where the new
  version's catalog counts (an index's columns, a down over the new row)
  naming the earlier operation and its position; a typo in a down is
  found at plan time (it was only checked as text); an expression over the old row (a backfill)
  may not use a column added earlier (the backfill computes it from the
  row as it was) and is refused the same way. Nothing changes.
"""

import pytest

from test_bad_input import pos
from test_create_index import indexes, snapshot, step

ROWS = 60

SCHEMA = {
    "pg": "CREATE TABLE accounts (id bigint PRIMARY KEY, email text,"
          " score int NOT NULL DEFAULT 0, note text)",
    "mysql": "CREATE TABLE accounts (id bigint NOT NULL PRIMARY KEY,"
             " email varchar(200) NULL, score int NOT NULL DEFAULT 0,"
             " note varchar(50) NULL) ENGINE=InnoDB",
}

FILL_AND_INDEX = """
description: a new column filled by an expand sql step, and indexed
operations:
  - add_column:
      table: accounts
      column: level
      type: int
  - sql:
      expand: "UPDATE accounts SET level = score + 1 WHERE level IS NULL"
      rollback: "UPDATE accounts SET score = score WHERE id < 0"
  - create_index:
      table: accounts
      name: accounts_level_idx
      columns: [level]
"""

PARTIAL = """
description: a partial index over a new column
operations:
  - add_column:
      table: accounts
      column: deleted_at
      type: timestamptz
  - create_index:
      table: accounts
      name: accounts_live_idx
      columns: [email]
      where: "deleted_at IS NULL"
"""


def make_schema(db):
    db.execute(SCHEMA[db.kind])
    for i in range(1, ROWS + 1):
        db.execute("INSERT INTO accounts (id, email, score, note)"
                   " VALUES (%s, %s, %s, %s)",
                   (i, "a%d@example.com" % i, i * 3, "n%d" % i))


@pytest.mark.both_dialects
def test_sql_step_and_index_use_a_column_added_earlier(target):
    db, project = target.db, target.project
    make_schema(db)
    before = snapshot(db)
    project.write("0001_level.yaml", FILL_AND_INDEX)
    project.ok("plan")
    step(project, "expand", "expanded")
    assert db.query("SELECT count(*) FROM accounts"
                    " WHERE level IS NULL OR level <> score + 1") == [(0,)]
    assert indexes(db, "accounts").get("accounts_level_idx") == ["level"]
    project.ok("rollback", "1")
    assert project.phases().get(1) == "pending"
    assert snapshot(db) == before
    step(project, "expand", "expanded")
    step(project, "backfill", "backfilled")
    step(project, "switch-reads", "switched")
    step(project, "contract", "contracted")
    assert db.query("SELECT count(*) FROM accounts"
                    " WHERE level = score + 1") == [(ROWS,)]
    assert indexes(db, "accounts").get("accounts_level_idx") == ["level"]


@pytest.mark.targets("postgres")
def test_partial_index_over_a_column_added_earlier(target):
    db, project = target.db, target.project
    make_schema(db)
    project.write("0001_live.yaml", PARTIAL)
    project.ok("plan")
    step(project, "expand", "expanded")
    pred = db.query("SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
                    " WHERE i.indexrelid = 'accounts_live_idx'::regclass"
                    " AND i.indisvalid")
    assert pred == [("(deleted_at IS NULL)",)], pred
    step(project, "backfill", "backfilled")
    step(project, "switch-reads", "switched")
    step(project, "contract", "contracted")


@pytest.mark.targets("postgres")
def test_where_typo_on_a_table_with_an_added_column_is_refused(target):
    db, project = target.db, target.project
    make_schema(db)
    before = snapshot(db)
    path = project.write("0001_live.yaml",
                         PARTIAL.replace('"deleted_at IS NULL"',
                                         '"delted_at IS NULL"'))
    r = project.expect(2, "plan")
    assert "where 'delted_at IS NULL' is not a boolean expression" in r.err, r.err
    line, _ = pos(path.read_text(), "where:")
    assert "0001_live.yaml:%d:" % line in r.err, r.err
    project.expect(2, "expand", "1")
    assert snapshot(db) == before
    assert db.history_rows() == 0


REFUSED = {
    "dropped": ("""
description: an index over a column dropped earlier
operations:
  - drop_column:
      table: accounts
      column: note
  - create_index:
      table: accounts
      name: accounts_note_idx
      columns: [note]
""", "columns", "column 'note' of {t} is dropped by an earlier operation of"
                " this migration (drop_column at {path}:3:5)"),
    "renamed": ("""
description: an index over the old name of a column renamed earlier
operations:
  - rename_column:
      table: accounts
      from: email
      to: email_address
  - create_index:
      table: accounts
      name: accounts_email_idx
      columns: [email]
""", "columns", "column 'email' of {t} is renamed to 'email_address' by an"
                " earlier operation of this migration (rename_column at"
                " {path}:3:5)"),
    "added_in_backfill": ("""
description: a backfill over a column added earlier
operations:
  - add_column:
      table: accounts
      column: level
      type: int
      backfill: "score + 1"
  - add_column:
      table: accounts
      column: level2
      type: int
      backfill: "level * 2"
""", "backfill", "column 'level' of {t} is added by an earlier operation of"
                 " this migration (add_column at {path}:3:5): an expression"
                 " over the old row cannot use it"),
    "down_typo": ("""
description: a typo in down (it was only checked as text)
operations:
  - alter_column:
      table: accounts
      column: score
      to: score_big
      type: bigint
      up: "score"
      down: "scor_big"
""", "down", "expression 'scor_big' does not work on {t}"),
    "down_dropped": ("""
description: a drop_column's down over a column dropped earlier
operations:
  - drop_column:
      table: accounts
      column: email
  - drop_column:
      table: accounts
      column: note
      down: "email"
""", "down", "column 'email' of {t} is dropped by an earlier operation of"
             " this migration (drop_column at {path}:3:5)"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_use_of_a_column_an_earlier_operation_changed_is_refused(target, case):
    db, project = target.db, target.project
    make_schema(db)
    before = snapshot(db)
    text, key, message = REFUSED[case]
    path = project.write("0001_bad.yaml", text)
    r = project.expect(2, "plan")
    table = "`accounts`" if db.kind == "mysql" else '"public"."accounts"'
    assert message.format(t=table, path=path) in r.err, r.err
    # the use's own position (the last key of that name in the file)
    lines = path.read_text().splitlines()
    line = max(i for i, s in enumerate(lines) if s.strip().startswith(key + ":"))
    assert ":%d:" % (line + 1) in r.err.splitlines()[0].rsplit(" at ", 1)[1], r.err
    project.expect(2, "expand", "1")
    assert snapshot(db) == before
    assert db.history_rows() == 0
