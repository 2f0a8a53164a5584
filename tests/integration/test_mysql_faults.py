"""migrate killed at every step on MariaDB (label "mysql"), and run again.

DDL commits by itself on MySQL, so each step runs its statements first and
writes its history row after them (docs/deviations.md). Two windows per
step of expand, switch-reads, contract and rollback:

- `<phase>:<k>`: killed after step k and its history row;
- `<phase>-unrecorded:<k>`: killed after step k's statements, before its
  history row: the step is done but not recorded, and the next run does
  it again, which must be harmless.

Both planner dialects (MariaDB's, and MySQL 8's run on MariaDB). Every
operation: rename_column, add_column (NOT NULL, backfilled),
drop_column, alter_column (int -> bigint) and create_index (unique). After
each kill the old version (blue) inserts a row and updates one through
its own column names, as it would while migrate is down, and the same
command is run again. The end (contract, or rollback) must be exactly
what a run without kills gives, with the same writes at the same points:
the same schema (columns, indexes, triggers) and the same rows, every one
of them. Rollback must also give back the schema from before expand.
"""

import pytest

KILLED = (-9, 137)
SEED = 200

OPS = {
    "rename_column": dict(
        ddl="CREATE TABLE t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " user_name varchar(100) NOT NULL DEFAULT 'anon', email varchar(100),"
            " KEY t_user_name (user_name))",
        seed="INSERT INTO t (user_name, email) SELECT CONCAT('seed-', seq),"
             " CONCAT('s', seq, '@example.com') FROM seq_1_to_{n}",
        migration="""
description: rename t.user_name
operations:
  - rename_column:
      table: t
      from: user_name
      to: username
""",
        blue=["INSERT INTO t (user_name, email) VALUES ('blue-{n}', 'b{n}@example.com')",
              "UPDATE t SET user_name = 'blue-upd-{n}' WHERE id = {n}"]),
    "add_column": dict(
        ddl="CREATE TABLE t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " total decimal(12,2) NOT NULL, note varchar(100))",
        seed="INSERT INTO t (total, note) SELECT seq * 37 % 2000, CONCAT('seed-', seq)"
             " FROM seq_1_to_{n}",
        migration="""
description: add t.priority
operations:
  - add_column:
      table: t
      column: priority
      type: smallint
      default: "0"
      nullable: false
      backfill: "CASE WHEN total > 1000 THEN 1 ELSE 0 END"
""",
        blue=["INSERT INTO t (total, note) VALUES (1500, 'blue-{n}')",
              "UPDATE t SET total = 1999, note = 'blue-upd-{n}' WHERE id = {n}"]),
    "drop_column": dict(
        ddl="CREATE TABLE t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " name varchar(100) NOT NULL, legacy_flag boolean NOT NULL)",
        seed="INSERT INTO t (name, legacy_flag) SELECT CONCAT('seed-', seq), seq % 3 = 0"
             " FROM seq_1_to_{n}",
        migration="""
description: drop t.legacy_flag
operations:
  - drop_column:
      table: t
      column: legacy_flag
      down: "FALSE"
""",
        blue=["INSERT INTO t (name, legacy_flag) VALUES ('blue-{n}', TRUE)",
              "UPDATE t SET legacy_flag = NOT legacy_flag WHERE id = {n}"]),
    "alter_column": dict(
        ddl="CREATE TABLE t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " age int, name varchar(100) NOT NULL)",
        seed="INSERT INTO t (age, name) SELECT IF(seq % 10 = 0, NULL, seq % 100),"
             " CONCAT('seed-', seq) FROM seq_1_to_{n}",
        migration="""
description: widen t.age into t.age_years
operations:
  - alter_column:
      table: t
      column: age
      to: age_years
      type: bigint
      up: "CAST(age AS SIGNED)"
      down: "age_years"
""",
        blue=["INSERT INTO t (age, name) VALUES ({n}, 'blue-{n}')",
              "UPDATE t SET age = age + 1000 WHERE id = {n}"]),
    "create_index": dict(
        ddl="CREATE TABLE t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " customer_id int NOT NULL, code varchar(40) NOT NULL)",
        seed="INSERT INTO t (customer_id, code) SELECT seq % 17, CONCAT('c-', seq)"
             " FROM seq_1_to_{n}",
        migration="""
description: index t
operations:
  - create_index:
      table: t
      name: t_customer_idx
      columns: [customer_id]
  - create_index:
      table: t
      name: t_code_key
      columns: [code]
      unique: true
""",
        blue=["INSERT INTO t (customer_id, code) VALUES (3, 'blue-{n}')",
              "UPDATE t SET customer_id = customer_id + 100 WHERE id = {n}"]),
}


def schema(db):
    cols = db.query("SELECT column_name, column_type, is_nullable, column_default"
                    " FROM information_schema.columns WHERE table_schema = DATABASE()"
                    " AND table_name = 't' ORDER BY ordinal_position")
    idx = db.query("SELECT index_name, non_unique, column_name FROM information_schema.statistics"
                   " WHERE table_schema = DATABASE() AND table_name = 't'"
                   " ORDER BY index_name, seq_in_index")
    trg = db.query("SELECT trigger_name FROM information_schema.triggers"
                   " WHERE trigger_schema = DATABASE()")
    return cols, idx, trg


def rows(db):
    return db.query("SELECT * FROM t ORDER BY id")


def blue_writes(db, op, n):
    """The old version, while migrate is down (or between commands)."""
    for sql in OPS[op]["blue"]:
        db.execute(sql.format(n=n))


def plan(p, phase):
    """[(step number, writes)] of phase: an assertion writes nothing, not
    even a history row."""
    [m] = [m for m in p.json("plan", "1")["migrations"] if m["id"] == 1]
    return [(k, s["kind"] != "assert") for k, s in enumerate(m["phases"][phase], start=1)]


def run_window(server, make_project, op, phase, fault, label):
    """The whole window, with the fault (if any) in `phase` and blue's
    writes after it, and after every command but contract. Returns the
    database (to be dropped by the caller), the schema before expand, and,
    for the run without a fault, the steps of `phase` as planned before
    expand (see plan)."""
    db = server.new_database(label)
    spec = OPS[op]
    db.execute(spec["ddl"])
    db.execute(spec["seed"].format(n=SEED))
    before = schema(db)
    p = make_project(db, label)
    p.write("0001_op.yaml", spec["migration"])
    steps = None if fault else plan(p, phase)
    last = "rollback" if phase == "rollback" else "contract"
    for n, command in enumerate(["expand", "backfill", "switch-reads", last], start=1):
        args = ["--batch-size", "50"] if command == "backfill" else []
        if command == phase and fault:
            r = p.run(command, "1", *args, fault=fault)
            assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()
        if command != "contract":       # blue is retired before contract
            blue_writes(db, op, n)
        p.ok(command, "1", *args)
        if command not in ("contract", "rollback"):
            blue_writes(db, op, 10 + n)
    return db, before, steps


@pytest.mark.both_dialects
@pytest.mark.parametrize("phase", ["expand", "switch-reads", "contract", "rollback"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_kill_at_every_step_then_rerun(mariadb_server, make_project, op, phase):
    ref, before, steps = run_window(mariadb_server, make_project, op, phase, None, "ref")
    try:
        want = schema(ref), rows(ref)
        if phase == "rollback":
            assert want[0] == before, "rollback did not give back the schema"
    finally:
        ref.drop()
    if not steps:
        return      # nothing runs in this phase for this operation
    tried = 0
    for k, writes in steps:
        for point in ("recorded", "unrecorded"):
            if point == "unrecorded" and not writes:
                continue
            fault = f"{phase}:{k}" if point == "recorded" else f"{phase}-unrecorded:{k}"
            db, _, _ = run_window(mariadb_server, make_project, op, phase, fault,
                                  f"{phase}_{k}_{point}")
            try:
                got = schema(db), rows(db)
                assert got[0] == want[0], f"killed at {fault}: schema differs:\n{got[0]}\n{want[0]}"
                assert got[1] == want[1], f"killed at {fault}: rows differ: " + str(
                    [(a, b) for a, b in zip(got[1], want[1]) if a != b][:5])
                tried += 1
            finally:
                db.drop()
    assert tried > 0
