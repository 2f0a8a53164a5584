"""migrate killed at every step on MariaDB (label "mysql"), and run again.

DDL commits by itself on MySQL, so each step runs its statements first and
writes its history row after them (docs/deviations.md). Two windows per
step of expand, contract and rollback (switch-reads of a rename has no
step on MySQL: the new column is NOT NULL from expand on):

- `<phase>:<k>`: killed after step k and its history row;
- `<phase>-unrecorded:<k>`: killed after step k's statements, before its
  history row: the step is done but not recorded, and the next run does
  it again, which must be harmless.

After each kill the old version (blue) inserts and updates a row through
the old column name, as it would while migrate is down, and the same
command is run again. At the end (contract, or rollback) the schema is
exactly what it should be, and every row has its value: the seeded ones,
and blue's, which the dual-write trigger must have carried whatever state
the kill left.
"""

import pytest

KILLED = (-9, 137)
SEED = 200
FILE = "0001_rename_user_name.yaml"
MIGRATION = """
description: Rename users.user_name to users.username
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
"""


def seed(db):
    db.execute("CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " user_name varchar(100) NOT NULL DEFAULT 'anon', email varchar(100),"
               " KEY users_user_name (user_name))")
    db.execute("INSERT INTO users (user_name, email) SELECT CONCAT('seed-', seq),"
               f" CONCAT('s', seq, '@example.com') FROM seq_1_to_{SEED}")
    return {i: f"seed-{i}" for i in range(1, SEED + 1)}


def schema(db):
    cols = db.query("SELECT column_name, column_type, is_nullable, column_default"
                    " FROM information_schema.columns WHERE table_schema = DATABASE()"
                    " AND table_name = 'users' ORDER BY ordinal_position")
    idx = db.query("SELECT index_name, column_name FROM information_schema.statistics"
                   " WHERE table_schema = DATABASE() AND table_name = 'users'"
                   " ORDER BY index_name, seq_in_index")
    trg = db.query("SELECT trigger_name FROM information_schema.triggers"
                   " WHERE trigger_schema = DATABASE()")
    return cols, idx, trg


def blue_writes(db, expected, n):
    """The old version, while migrate is down: an insert and an update
    through the old name only."""
    db.execute("INSERT INTO users (user_name) VALUES (%s)", (f"blue-{n}",))
    new_id = db.query("SELECT LAST_INSERT_ID()")[0][0]
    expected[new_id] = f"blue-{n}"
    db.execute("UPDATE users SET user_name = %s WHERE id = %s", (f"blue-upd-{n}", n))
    expected[n] = f"blue-upd-{n}"


def assert_values(db, column, expected):
    got = dict(db.query(f"SELECT id, `{column}` FROM users"))
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong and len(got) == len(expected), \
        f"{len(wrong)} rows wrong in {column} (got, want): {dict(list(wrong.items())[:5])}"


def steps_of(p, phase):
    """The step numbers of phase and whether each writes (an assertion
    writes nothing, not even a history row)."""
    [m] = [m for m in p.json("plan", "1")["migrations"] if m["id"] == 1]
    return [(k, s["kind"] != "assert") for k, s in enumerate(m["phases"][phase], start=1)]


def crash_and_rerun(mariadb_server, make_project, phase, k, point):
    db = mariadb_server.new_database(f"{phase}_{point}_{k}")
    try:
        expected = seed(db)
        before = schema(db)
        p = make_project(db, f"{phase}_{point}_{k}")
        p.write(FILE, MIGRATION)
        order = (["expand", "backfill", "switch-reads", "rollback"] if phase == "rollback"
                 else ["expand", "backfill", "switch-reads", "contract"])
        for n, command in enumerate(order, start=1):
            args = ["--batch-size", "50"] if command == "backfill" else []
            if command == phase:
                fault = f"{phase}:{k}" if point == "recorded" else f"{phase}-unrecorded:{k}"
                r = p.run(command, "1", *args, fault=fault)
                assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()
                blue = phase != "contract"      # blue is gone before contract
                if blue:
                    blue_writes(db, expected, n)
            p.ok(command, "1", *args)
            if command == "expand" and phase != "expand":
                blue_writes(db, expected, 100 + n)
        if phase == "rollback":
            assert p.phases()[1] == "pending"
            assert schema(db) == before
            assert_values(db, "user_name", expected)
        else:
            assert p.phases()[1] == "contracted"
            cols, idx, trg = schema(db)
            # the new column was added last (ALGORITHM=INSTANT)
            assert [c[0] for c in cols] == ["id", "email", "username"], cols
            assert ("username", "varchar(100)", "NO", "'anon'") in cols, cols
            assert ("users_user_name", "username") in idx, idx
            assert trg == [], trg
            assert_values(db, "username", expected)
    finally:
        db.drop()


@pytest.mark.parametrize("point", ["recorded", "unrecorded"])
@pytest.mark.parametrize("phase", ["expand", "contract", "rollback"])
def test_kill_at_every_step_then_rerun(mariadb_server, mdb, make_project, phase, point):
    seed(mdb)
    plan_project = make_project(mdb, "plan")
    plan_project.write(FILE, MIGRATION)
    steps = steps_of(plan_project, phase)
    n = len(steps)
    assert n >= 1, f"no {phase} steps planned"
    for k, writes in steps:
        if point == "unrecorded" and not writes:
            continue
        try:
            crash_and_rerun(mariadb_server, make_project, phase, k, point)
        except AssertionError as e:
            raise AssertionError(f"killed at {phase} step {k} of {n} ({point}): {e}") from e
