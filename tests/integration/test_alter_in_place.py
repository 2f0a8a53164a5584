"""alter_column without `to:` (a type change that keeps the column's name)
under traffic, on every target (issue 13).

items.score integer -> bigint (NOT NULL, DEFAULT 0, a comment, an index
and a unique constraint over (name, score)) and items.qty text -> integer
through `up` (the old version writes numeric strings only: the values
that parse); on PostgreSQL also items.parent_id integer -> bigint, which
a foreign key to parents(id) covers (MariaDB refuses a foreign key on the
column: tests/snapshots/cases/alter_in_place_up_fk).

The old version (blue) and the new one (green) write the same columns
under the same names through every phase, contract included, with zero
errors; each reads back what it wrote. After contract the columns have
their new types, under their own names, with every dependent under its
own name; each row holds its last writer's value; a value beyond integer
range fits. Rollback from every phase before contract gives back the
exact schema; a kill after every step of every phase (on MariaDB also
after a step's statements ran and before its history row) and a run again
reach the same end as a run without faults.
"""

import pytest

import mysql_scenarios as my
from writers import (Writer, assert_no_leftovers, assert_rows, fetch,
                     merged_expectations, paused, running, wait_for_ops)

SEED = 600

MIGRATION = {
    "pg": """
description: score and parent_id to bigint, qty to integer, keeping their names
operations:
  - alter_column:
      table: items
      column: score
      type: bigint
  - alter_column:
      table: items
      column: qty
      type: integer
      up: "qty::integer"
  - alter_column:
      table: items
      column: parent_id
      type: bigint
""",
    "mysql": """
description: score to bigint, qty to int, keeping their names
operations:
  - alter_column:
      table: items
      column: score
      type: bigint
  - alter_column:
      table: items
      column: qty
      type: int
      up: "CAST(qty AS SIGNED)"
""",
}

# each version's read of its row: qty as text whatever its type
READ = {
    "pg": "SELECT score, qty::text FROM items WHERE id = %s",
    "mysql": "SELECT score, CAST(qty AS CHAR) FROM items WHERE id = %s",
}


def make_schema(db):
    """items with SEED rows; {id: (score, qty)}."""
    if db.kind == "mysql":
        db.execute("CREATE TABLE items (id bigint NOT NULL AUTO_INCREMENT"
                   " PRIMARY KEY, name varchar(100) NOT NULL,"
                   " score int NOT NULL DEFAULT 0 COMMENT 'points',"
                   " qty varchar(20), note varchar(20),"
                   " KEY items_score_idx (score),"
                   " UNIQUE KEY items_name_score_key (name, score))")
        my.seed(db, "INSERT INTO items (name, score, qty) VALUES (%s, %s, %s)",
                [("seed-%d" % g, g, str(g % 50)) for g in range(1, SEED + 1)])
    else:
        db.execute("CREATE TABLE parents (id bigint PRIMARY KEY)")
        db.execute("INSERT INTO parents SELECT g FROM generate_series(1, 10) g")
        db.execute("CREATE TABLE items (id bigserial PRIMARY KEY,"
                   " name text NOT NULL,"
                   " score integer NOT NULL DEFAULT 0,"
                   " qty text,"
                   " parent_id integer CONSTRAINT items_parent_fkey"
                   "   REFERENCES parents (id),"
                   " note text,"
                   " CONSTRAINT items_name_score_key UNIQUE (name, score))")
        db.execute("CREATE INDEX items_score_idx ON items (score)")
        db.execute("COMMENT ON COLUMN items.score IS 'points'")
        db.execute("INSERT INTO items (name, score, qty, parent_id)"
                   " SELECT 'seed-' || g, g, (g %% 50)::text, 1 + g %% 10"
                   "   FROM generate_series(1, %d) g" % SEED)
    return {r[0]: (r[1], r[2]) for r in
            db.query("SELECT id, score, qty FROM items")}


def writers(db):
    """blue and green: the same columns, distinct names and values (blue's
    scores under 10^6, green's from 10^6: both fit the old type)."""
    read = READ[db.kind]

    def writer(label, base, owned=None):
        def insert(conn, i):
            value = (base + i, str(i % 1000))
            fetch(conn, "INSERT INTO items (name, score, qty) VALUES"
                        " (%s, %s, %s)", ("%s-%d" % (label, i),) + value)
            row_id = fetch(conn, "SELECT id FROM items WHERE name = %s",
                           ("%s-%d" % (label, i),))[0][0]
            return row_id, value

        def update(conn, rng, row_id, last):
            seen = fetch(conn, read, (row_id,))
            assert seen == [last], "%s reads back %r, wrote %r" % (
                label, seen, last)
            value = (base + rng.randrange(0, 10 ** 6), str(rng.randrange(0, 999)))
            fetch(conn, "UPDATE items SET score = %s, qty = %s WHERE id = %s",
                  value + (row_id,))
            return value

        kw = {"sleep": (0.0005, 0.003)} if db.kind == "mysql" else {}
        return Writer(db.connect, label, insert, update, owned=owned, **kw)

    return writer


def snapshot(db):
    return my.schema_snapshot(db) if db.kind == "mysql" else db.snapshot()


def no_leftovers(db):
    if db.kind == "mysql":
        my.assert_no_leftovers(db)
    else:
        assert_no_leftovers(db)


def step(project, command, state, *args):
    project.ok(command, "1", *args)
    got = project.phases().get(1)
    assert got == state, \
        "after %s, status --json says %r, not %r" % (command, got, state)


def columns(db):
    """[(column, type, nullable, default)] of items in their order."""
    if db.kind == "mysql":
        return [(c,) + v for c, v in my.columns(db, "items").items()]
    return db.query(
        "SELECT column_name, data_type, is_nullable, column_default"
        "  FROM information_schema.columns WHERE table_name = 'items'"
        " ORDER BY ordinal_position")


def check_final_catalog(db):
    cols = {c[0]: c[1:] for c in columns(db)}
    order = [c[0] for c in columns(db)]
    if db.kind == "mysql":
        assert cols["score"] == ("bigint(20)", "NO", "0"), cols
        assert cols["qty"][0:2] == ("int(11)", "YES"), cols
        # MariaDB keeps the position (ADD COLUMN ... AFTER)
        assert order == ["id", "name", "score", "qty", "note"], order
        assert my.indexes(db, "items") == {
            "PRIMARY": ["id"], "items_score_idx": ["score"],
            "items_name_score_key": ["name", "score"]}
        ddl = db.admin_query("SHOW CREATE TABLE items")[0][1]
        assert "COMMENT 'points'" in ddl, ddl
        assert my.history_phase(db) == "contracted"
        return
    assert cols["score"] == ("bigint", "NO", "0"), cols
    assert cols["qty"][0:2] == ("integer", "YES"), cols
    assert cols["parent_id"][0:2] == ("bigint", "YES"), cols
    # PostgreSQL has no column position to keep: the columns come last
    assert order == ["id", "name", "note", "score", "qty", "parent_id"], order
    cons = dict(db.query(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'items'::regclass AND contype <> 'p'"))
    assert cons == {"items_name_score_key": "UNIQUE (name, score)",
                    "items_parent_fkey":
                        "FOREIGN KEY (parent_id) REFERENCES parents(id)"}, cons
    idx = dict(db.query("SELECT indexname, indexdef FROM pg_indexes"
                        " WHERE tablename = 'items'"))
    assert idx["items_score_idx"].endswith("USING btree (score)"), idx
    assert set(idx) == {"items_pkey", "items_score_idx",
                        "items_name_score_key"}, idx
    assert db.query("SELECT col_description('items'::regclass, attnum)"
                    "  FROM pg_attribute WHERE attrelid = 'items'::regclass"
                    "   AND attname = 'score'") == [("points",)]
    assert db.query("SELECT phase FROM _migrate_history"
                    " WHERE migration_id = 1") == [("contracted",)]


@pytest.mark.both_dialects
def test_alter_in_place_under_traffic(target):
    db, project = target.db, target.project
    seeded = make_schema(db)
    project.write("0001_types.yaml", MIGRATION[target.kind])
    make = writers(db)
    blue = make("blue", 0, owned=seeded)
    green = make("green", 10 ** 6)
    tmp_differs = {
        "pg": "score_mg1 IS DISTINCT FROM score::bigint"
              " OR qty_mg1 IS DISTINCT FROM qty::integer"
              " OR parent_id_mg1 IS DISTINCT FROM parent_id",
        "mysql": "NOT (score_mg1 <=> score) OR NOT (qty_mg1 <=> CAST(qty AS SIGNED))",
    }[target.kind]

    with running(blue):
        wait_for_ops(blue, 15)
        step(project, "expand", "expanded")
        names = [c[0] for c in columns(db)]
        assert "score_mg1" in names and "qty_mg1" in names, names
        with running(green):
            wait_for_ops(green, 20)
            step(project, "backfill", "backfilled", "--batch-size", "50")
            wait_for_ops(blue, 10)
            wait_for_ops(green, 10)
            step(project, "switch-reads", "switched")
            with paused(blue, green):
                bad = db.query("SELECT id FROM items WHERE %s LIMIT 5"
                               % tmp_differs)
                assert bad == [], "temporary columns out of step: %r" % bad
            wait_for_ops(blue, 10)
            # both versions write on through contract: the new type takes
            # effect at once, and their writes go on without an error
            step(project, "contract", "contracted")
            wait_for_ops(blue, 10)
            wait_for_ops(green, 10)
    check_final_catalog(db)
    no_leftovers(db)
    exp = merged_expectations(blue, green)
    read = READ[db.kind].replace(" WHERE id = %s", "")
    actual = {r[0]: (r[1], r[2]) for r in db.query(
        read.replace("SELECT ", "SELECT id, ", 1))}
    assert len(actual) == SEED + len(blue.inserted) + len(green.inserted)
    assert_rows(actual, {k: (v[0], v[1]) for k, v in exp.items()}, "(score, qty)")
    db.execute("UPDATE items SET score = %s WHERE id = 1", (2 ** 40,))
    assert db.query("SELECT score FROM items WHERE id = 1") == [(2 ** 40,)]


@pytest.mark.both_dialects
@pytest.mark.parametrize("last_phase", ["expand", "backfill", "switch-reads"])
def test_alter_in_place_rollback(target, last_phase):
    db, project = target.db, target.project
    seeded = make_schema(db)
    before = snapshot(db)
    project.write("0001_types.yaml", MIGRATION[target.kind])
    blue = writers(db)("blue", 0, owned=seeded)
    with running(blue):
        wait_for_ops(blue, 10)
        for phase in ("expand", "backfill", "switch-reads"):
            project.ok(phase, "1")
            wait_for_ops(blue, 10)
            if phase == last_phase:
                break
        project.ok("rollback", "1")
        wait_for_ops(blue, 10)
    after = snapshot(db)
    for key in before:
        assert after[key] == before[key], \
            "%s differ after rollback:\nbefore %r\nafter  %r" % (
                key, before[key], after[key])
    no_leftovers(db)
    assert project.phases()[1] == "pending"
    assert_rows({r[0]: (r[1], r[2]) for r in db.query(
        READ[db.kind].replace("SELECT ", "SELECT id, ", 1)
        .replace(" WHERE id = %s", ""))},
        merged_expectations(blue), "(score, qty)")


def phase_steps(project):
    """{phase: [kind of each step]} of the plan."""
    plan = project.json("plan", "1")["migrations"][0]["phases"]
    return {p: [s["kind"] for s in plan[p]]
            for p in ("expand", "switch-reads", "contract")}


@pytest.mark.both_dialects
def test_alter_in_place_kill_at_every_step(target):
    db, project = target.db, target.project
    make_schema(db)
    project.write("0001_types.yaml", MIGRATION[target.kind])
    # the end state without faults, on a database of its own
    clean_db = target.new_database("clean")
    try:
        make_schema(clean_db)
        clean = target.make_project(clean_db, "clean")
        clean.write("0001_types.yaml", MIGRATION[target.kind])
        for phase in ("expand", "backfill", "switch-reads", "contract"):
            clean.ok(phase, "1")
        expected = snapshot(clean_db)
    finally:
        clean_db.drop()
    steps = phase_steps(project)
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        for k, kind in enumerate(steps.get(phase, []), 1):
            # MariaDB: first killed after the step's statements ran and
            # before its history row (the step runs again), then after it
            faults = ["%s-unrecorded", "%s"] if (
                target.is_mysql and kind != "assert") else ["%s"]
            for fault in faults:
                r = project.run(phase, "1", fault="%s:%d" % (fault % phase, k))
                assert r.rc in (-9, 137), (phase, k, fault, r.describe())
        project.ok(phase, "1")
    assert project.phases()[1] == "contracted"
    got = snapshot(db)
    for key in expected:
        if key == "tables":
            continue
        assert got[key] == expected[key], \
            "%s differ:\nclean  %r\nfaults %r" % (key, expected[key], got[key])
    check_final_catalog(db)
    no_leftovers(db)


@pytest.mark.targets("mariadb")
def test_contract_stopped_after_the_rename_finishes(target):
    """MariaDB runs a step statement by statement: a crash right after
    the ALTER that renamed the temporary column into place, before the
    index renames and the history row, then a run again, finishes (the
    ALTER is guarded by the temporary column, which is gone)."""
    db, project = target.db, target.project
    make_schema(db)
    project.write("0001_types.yaml", MIGRATION["mysql"])
    for phase in ("expand", "backfill", "switch-reads"):
        project.ok(phase, "1")
    sql = project.json("plan", "1")["migrations"][0]["phases"]["contract"][-1]["sql"]
    head = sql[:sql.index("UNLOCK TABLES;")]
    conn = db.connect()
    try:
        cur = conn.cursor()
        for stmt in head.split(";\n"):
            if stmt.strip():
                cur.execute(stmt)
        cur.execute("UNLOCK TABLES")
    finally:
        conn.close()
    names = [c[0] for c in columns(db)]
    assert "score_mg1" not in names and "score" in names, names
    step(project, "contract", "contracted")
    check_final_catalog(db)
    no_leftovers(db)
