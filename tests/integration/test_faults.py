"""migrate killed at exact points, then run again: the migration ends in
the right state, on every target.

Test builds of migrate honour MIGRATE_FAULT=<phase>:<step> (SIGKILL right
after that step of the phase and its history row committed),
MIGRATE_FAULT=<phase>-unrecorded:<step> (right after the step's
statements, before its history row) and MIGRATE_FAULT=backfill:<table>:
<batch> (right after that batch committed).

test_kill_at_every_step_then_rerun kills migrate after every step k of
expand, switch-reads, contract and rollback (counted from `plan 1 --json`),
each on a fresh database, runs the same command again and goes on to the
end. How the end is judged differs by database, because what a kill can
leave differs:

- PostgreSQL: DDL is transactional, so a step and its history row commit
  together: a kill leaves the step done and recorded, or not done. The
  rename users.user_name -> users.username carries dependents (an index, a
  UNIQUE constraint, an inbound FK from profiles), so expand builds indexes
  concurrently and switch-reads validates and adds constraints: every phase
  has several steps to die after. The writers that are alive in that phase
  keep working in what the crash left, and the migration goes on to
  contract with every row kept with its right value; rollback (after
  switch-reads) ends exactly as before expand.
- MariaDB (both planner dialects): DDL commits by itself, so each step runs
  its statements first and writes its history row after them
  (docs/deviations.md), and there are two windows per step: killed after
  step k and its history row, and killed after step k's statements before
  its history row (the step is done but not recorded, and the next run
  does it again, which must be harmless). Every operation: rename_column,
  add_column (NOT NULL, backfilled), drop_column, alter_column (int ->
  bigint) and create_index (unique). After each kill the old version
  (blue) inserts a row and updates one through its own column names, as
  it would while migrate is down, and the same command is run again. The
  end (contract, or rollback) must be exactly what a run without kills
  gives, with the same writes at the same points: the same schema
  (columns, indexes, triggers) and the same rows, every one of them.
  Rollback must also give back the schema from before expand.

PostgreSQL only (as before the merge): backfill killed after its third
batch, then resumed; a real kill -9 of a running backfill, then resumed;
both with a bigint and with a composite (text, bigint) key.
"""

import time

import pytest

from writers import (RENAME_MIGRATION, assert_no_leftovers, assert_rows,
                     merged_expectations, rename_blue, rename_green, running,
                     setup_users, wait_for_ops)

KILLED = (-9, 137)


# -- PostgreSQL: the rename with dependents, under live writers -----------------------

PG_SEED = 1000
REFERENCED = 100      # users 1..100 have profiles: never renamed by blue
FILE = "0001_rename_user_name.yaml"
MARKER = "_migrate_1"


def with_dependents(db, n=PG_SEED):
    seeded = setup_users(db, n)
    db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    db.execute("ALTER TABLE users ADD CONSTRAINT users_user_name_key"
               " UNIQUE (user_name)")
    db.execute("CREATE TABLE profiles (id bigserial PRIMARY KEY,"
               " user_name text NOT NULL REFERENCES users (user_name))")
    db.execute("INSERT INTO profiles (user_name) SELECT user_name FROM users"
               " WHERE id <= %d" % REFERENCED)
    fixed = {k: v for k, v in seeded.items() if k <= REFERENCED}
    owned = {k: v for k, v in seeded.items() if k > REFERENCED}
    return fixed, owned


def fresh(target, label, n=PG_SEED):
    db = target.new_database(label)
    fixed, owned = with_dependents(db, n)
    project = target.make_project(db, label)
    project.write(FILE, RENAME_MIGRATION)
    return db, project, fixed, owned


def plan_steps(target, phase):
    db, project, _, _ = fresh(target, "plan_" + phase, 10)
    doc = project.json("plan", "1")
    db.drop()
    [mig] = [m for m in doc["migrations"] if m["id"] == 1]
    steps = mig["phases"][phase]
    assert steps, "plan has no %s steps: %r" % (phase, mig)
    return steps


def assert_killed(r):
    assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()


def assert_sides_agree(db):
    bad = db.query("SELECT id, user_name, username, %s FROM users"
                   " WHERE %s = 0 OR username IS DISTINCT FROM user_name"
                   " ORDER BY id LIMIT 10" % (MARKER, MARKER))
    assert bad == [], "rows not (or wrongly) copied: %r" % bad


def assert_final(db, project, fixed, *writers):
    assert project.phases()[1] == "contracted"
    cols = {r[0] for r in db.query(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'users'")}
    assert "user_name" not in cols and "username" in cols, cols
    assert_no_leftovers(db)
    expected = merged_expectations(*writers)
    expected.update(fixed)
    actual = dict(db.query("SELECT id, username FROM users"))
    assert len(actual) == PG_SEED + sum(len(w.inserted) for w in writers)
    assert_rows(actual, expected, "username")
    # the constraints made it to the new column
    assert db.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
                    " AND conrelid = 'profiles'::regclass AND convalidated"
                    ) == [(1,)]
    assert db.query("SELECT count(*) FROM pg_constraint WHERE contype = 'u'"
                    " AND conrelid = 'users'::regclass") == [(1,)]


def crash_and_finish(target, phase, k):
    """One run of the whole window with migrate killed after step k of
    phase and the same command run again."""
    db, project, fixed, owned = fresh(target, "%s_%d" % (phase.replace("-", "_"), k))
    before = db.snapshot()
    blue = rename_blue(db, owned)
    green = rename_green(db)
    live = []

    def run(command, *args):
        if command == phase:
            assert_killed(project.run(command, "1", *args,
                                      fault="%s:%d" % (phase, k)))
            for w in live:      # the writers live with what the crash left
                wait_for_ops(w, 20)
        project.ok(command, "1", *args)
        for w in live:
            wait_for_ops(w, 5)

    with running(blue) as blue_run:
        live.append(blue)
        wait_for_ops(blue, 10)
        run("expand")
        with running(green) as green_run:
            live.append(green)
            run("backfill", "--batch-size", "100")
            run("switch-reads")
            assert_sides_agree(db)
            if phase == "rollback":
                green_run.finish()          # back to blue only
                live.remove(green)
                run("rollback")
                blue_run.finish()
                assert db.snapshot() == before
                assert_no_leftovers(db)
                assert project.phases()[1] == "pending"
                expected = merged_expectations(blue, green)
                expected.update(fixed)
                assert_rows(dict(db.query("SELECT id, user_name FROM users")),
                            expected, "user_name")
                db.drop()
                return
            blue_run.finish()               # green only from here
            live.remove(blue)
            run("contract")
    assert_final(db, project, fixed, blue, green)
    db.drop()


def kill_with_live_writers(target, phase):
    """PostgreSQL: every step k of phase, killed after it, with the writers
    alive, then rerun and finished (see the module's docstring)."""
    steps = plan_steps(target, phase)
    for k in range(1, len(steps) + 1):
        try:
            crash_and_finish(target, phase, k)
        except AssertionError as e:
            raise AssertionError("killed after %s step %d of %d (%s): %s"
                                 % (phase, k, len(steps),
                                    steps[k - 1].get("description"), e)) from e


# -- MariaDB: every operation, compared with a run without kills ----------------------

MYSQL_SEED = 200

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


def run_window(target, op, phase, fault, label):
    """The whole window, with the fault (if any) in `phase` and blue's
    writes after it, and after every command but contract. Returns the
    database (to be dropped by the caller), the schema before expand, and,
    for the run without a fault, the steps of `phase` as planned before
    expand (see plan)."""
    db = target.new_database(label)
    spec = OPS[op]
    db.execute(spec["ddl"])
    db.execute(spec["seed"].format(n=MYSQL_SEED))
    before = schema(db)
    p = target.make_project(db, label)
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


def kill_and_compare_with_reference(target, op, phase):
    """MariaDB: every step k of phase, killed after its history row and
    (for a step that writes) before it, then rerun; the end must equal the
    run without kills (see the module's docstring)."""
    ref, before, steps = run_window(target, op, phase, None, "ref")
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
            db, _, _ = run_window(target, op, phase, fault, f"{phase}_{k}_{point}")
            try:
                got = schema(db), rows(db)
                assert got[0] == want[0], f"killed at {fault}: schema differs:\n{got[0]}\n{want[0]}"
                assert got[1] == want[1], f"killed at {fault}: rows differ: " + str(
                    [(a, b) for a, b in zip(got[1], want[1]) if a != b][:5])
                tried += 1
            finally:
                db.drop()
    assert tried > 0


# -- the test: every step of every phase, killed, then rerun ------------------------

@pytest.mark.both_dialects
@pytest.mark.parametrize("phase", ["expand", "switch-reads", "contract", "rollback"])
@pytest.mark.target_cases("op", {"pg": ["rename_dependents"], "mysql": sorted(OPS)})
def test_kill_at_every_step_then_rerun(target, op, phase):
    """PostgreSQL runs the rename with dependents under live writers and
    checks the end itself; MariaDB runs every operation and compares the end
    with a run without kills, at both kill points of a step (its DDL is not
    transactional). The module's docstring says why."""
    if target.is_pg:
        kill_with_live_writers(target, phase)
    else:
        kill_and_compare_with_reference(target, op, phase)


# -- PostgreSQL: backfill killed mid-run, then resumed --------------------------------

def users_keyed(db, n, key):
    """The rename's users table with a bigint primary key, or with a
    composite (text, bigint) one whose order is unrelated to insertion
    order; the writers address rows by the (unique) id either way."""
    if key == "bigint":
        return setup_users(db, n)
    db.execute("CREATE TABLE users (region text NOT NULL"
               " DEFAULT md5(random()::text), id bigserial,"
               " user_name text NOT NULL, email text,"
               " PRIMARY KEY (region, id))")
    db.execute("INSERT INTO users (user_name, email)"
               " SELECT 'seed-' || g, 'seed-' || g || '@example.com'"
               "   FROM generate_series(1, %d) g" % n)
    return dict(db.query("SELECT id, user_name FROM users"))


KEYS = pytest.mark.parametrize("key", ["bigint", "composite"])


@pytest.mark.targets("postgres")
@KEYS
def test_backfill_fault_mid_run_resumes(target, key):
    db, project = target.db, target.project
    seeded = users_keyed(db, PG_SEED, key)
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    with running(blue):
        wait_for_ops(blue, 10)
        project.ok("expand", "1")
        assert_killed(project.run("backfill", "1", "--batch-size", "20",
                                  fault="backfill:1:3"))
        done = db.query("SELECT count(*) FROM users WHERE %s <> 0"
                        % MARKER)[0][0]
        untouched = db.query("SELECT count(*) FROM users WHERE %s = 0"
                             % MARKER)[0][0]
        assert done >= 60 and untouched > 0, (done, untouched)
        wait_for_ops(blue, 10)
        project.ok("backfill", "1", "--batch-size", "20")
        assert_sides_agree(db)
        project.ok("switch-reads", "1")
    assert_sides_agree(db)
    assert_rows(dict(db.query("SELECT id, username FROM users")),
                merged_expectations(blue), "username")


@pytest.mark.targets("postgres")
@KEYS
def test_real_kill_during_backfill_resumes(target, key):
    db, project = target.db, target.project
    n = 5000
    seeded = users_keyed(db, n, key)
    project.write(FILE, RENAME_MIGRATION)
    blue = rename_blue(db, seeded)
    with running(blue):
        project.ok("expand", "1")
        p = project.popen("backfill", "1", "--batch-size", "1")
        # let it get going (about half a second), then kill -9 mid-run
        deadline = time.monotonic() + 10
        time.sleep(0.5)
        while time.monotonic() < deadline and p.poll() is None:
            done = db.query("SELECT count(*) FROM users WHERE %s <> 0"
                            % MARKER)[0][0]
            if done >= 100:
                break
            time.sleep(0.05)
        assert p.poll() is None, \
            "backfill ended before it could be killed (exit %r)\n%s" % (
                p.returncode, "".join(p.communicate()))
        p.kill()
        out, err = p.communicate()
        assert p.returncode in KILLED, (p.returncode, out, err)
        untouched = db.query("SELECT count(*) FROM users WHERE %s = 0"
                             % MARKER)[0][0]
        assert 0 < untouched < n, untouched
        wait_for_ops(blue, 10)
        project.ok("backfill", "1", "--batch-size", "500")
        assert_sides_agree(db)
        project.ok("switch-reads", "1")
    assert_sides_agree(db)
    assert_rows(dict(db.query("SELECT id, user_name FROM users")),
                merged_expectations(blue), "user_name")
