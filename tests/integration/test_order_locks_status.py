"""Order across migrations, lock waits, interrupted phases seen by status,
rollback of a half-done expand, and contract re-checking dependents."""

import re
import threading
import time

from conftest import RENAME_FILE, columns_of

ORDERS_DDL = """
CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric NOT NULL);
INSERT INTO orders (total) SELECT g FROM generate_series(1, 50) g;
"""

ADD_PRIORITY = """
operations:
  - add_column:
      table: orders
      column: priority
      type: smallint
      default: "0"
      backfill: "CASE WHEN total > 25 THEN 1 ELSE 0 END"
"""

RENAME_WITH_INDEX = """
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
"""


def two_migrations(users_project):
    p = users_project
    p.db.execute(ORDERS_DDL)
    p.write("0002_add_priority.yaml", ADD_PRIORITY)
    return p


def test_order_across_migrations(users_project):
    p = two_migrations(users_project)
    p.ok("expand", "1")
    # the default target of expand is now 0002, which must wait for 0001
    r = p.expect(1, "expand")
    assert "0001" in r.err and "backfill" in r.err, r.err
    r = p.expect(1, "expand", "2")
    assert "0001" in r.err
    assert "priority" not in columns_of(p.db, "orders")
    p.ok("backfill")
    p.ok("switch-reads")
    p.ok("expand")                      # now 0002
    assert "priority" in columns_of(p.db, "orders")
    # rollback of 0001 must wait until 0002 is pending again
    r = p.expect(1, "rollback", "1")
    assert "0002" in r.err
    # contract of 0002 must wait for 0001's contract
    p.ok("backfill", "2")
    p.ok("switch-reads", "2")
    r = p.expect(1, "contract", "2")
    assert "0001" in r.err
    p.ok("contract", "1")
    p.ok("contract", "2")
    # re-running a finished step is a no-op that says so, exit 0
    r = p.ok("contract")
    assert "nothing to do" in r.err
    r = p.ok("expand", "1")
    assert "nothing to do" in r.err
    assert p.phases() == {1: "contracted", 2: "contracted"}
    st = p.json("status")
    assert st["window"] == {"low": 2, "high": 2}


def test_window_in_status(users_project):
    p = users_project
    assert p.json("status")["window"] == {"low": 0, "high": 0}
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    st = p.json("status")
    assert st["window"] == {"low": 0, "high": 1}
    assert st["migrations"][0]["phase"] == "switched"
    assert st["migrations"][0]["backfill"]["done"] is True
    p.ok("contract")
    assert p.json("status")["window"] == {"low": 1, "high": 1}


def hold_lock(db, seconds):
    """A short transaction (younger than --max-tx-age) holding a lock that
    conflicts with ALTER TABLE, released after `seconds`."""
    conn = db.connect(autocommit=False, application_name="reader-app")
    conn.execute("SELECT count(*) FROM users")

    def release():
        time.sleep(seconds)
        conn.rollback()
        conn.close()

    t = threading.Thread(target=release)
    t.start()
    return t


def test_lock_timeout_retries_then_succeeds(users_project):
    p = users_project
    t = hold_lock(p.db, 1.0)
    r = p.ok("expand", "--lock-timeout", "100", "--lock-retries", "10")
    t.join()
    assert "lock not granted" in r.err, r.err
    assert "tries" in r.err, r.err
    assert "username" in columns_of(p.db, "users")


def test_lock_timeout_exhausted_changes_nothing(users_project):
    p = users_project
    before = p.db.snapshot()
    t = hold_lock(p.db, 3.0)
    r = p.expect(3, "expand", "--lock-timeout", "50", "--lock-retries", "1")
    t.join()
    assert "could not take the locks" in r.err, r.err
    assert p.db.snapshot() == before
    assert p.phases() == {1: "pending"}
    p.ok("expand")                      # re-running repairs nothing-to-repair


def test_long_transaction_refused_naming_it(users_project):
    p = users_project
    conn = p.db.connect(autocommit=False, application_name="slow-report")
    conn.execute("SELECT count(*) FROM users")
    time.sleep(1.5)
    r = p.expect(1, "expand", "--max-tx-age", "1")
    assert "slow-report" in r.err and "pid" in r.err, r.err
    conn.rollback()
    conn.close()
    p.ok("expand", "--max-tx-age", "1")


def test_interrupted_expand_in_status_then_rollback(users_project):
    p = users_project
    p.db.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    before = p.db.snapshot()
    plan = p.json("plan", "1")["migrations"][0]["phases"]["expand"]
    assert len(plan) == 2, plan         # the table step, then the index build
    r = p.run("expand", fault="expand:1")
    assert r.rc in (-9, 137), r.describe()
    st = p.json("status")
    m = st["migrations"][0]
    assert m["phase"] == "pending"
    assert m["interrupted"] == {"phase": "expand", "after_step": 1}
    assert "expand" in st["next"]
    text = p.ok("status").out
    assert "stopped after step 1" in text
    # a half-done expand can be rolled back to exactly the old schema
    p.ok("rollback", "1")
    assert p.db.snapshot() == before
    assert p.phases() == {1: "pending"}
    p.ok("expand")
    cols = columns_of(p.db, "users")
    assert "username" in cols


def test_contract_rechecks_dependents(users_project):
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    p.db.execute("CREATE VIEW user_names AS SELECT user_name FROM users")
    before = p.db.snapshot()
    r = p.expect(1, "contract")
    assert "user_names" in r.err, r.err
    assert p.db.snapshot() == before
    p.db.execute("DROP VIEW user_names")
    p.ok("contract")
    assert "user_name" not in columns_of(p.db, "users")


def test_plan_changes_nothing_even_with_sql_steps(project):
    p = project
    p.db.execute("CREATE TABLE t (id bigserial PRIMARY KEY, a text)")
    p.write("0001_audit.yaml", """
        operations:
          - sql:
              expand: "CREATE TABLE audit (id bigserial PRIMARY KEY, note text)"
              rollback: "DROP TABLE audit"
          - add_column:
              table: audit
              column: at
              type: timestamptz
              default: "now()"
    """)
    before = p.db.snapshot()
    doc = p.json("plan")
    steps = doc["migrations"][0]["phases"]["expand"]
    assert any("CREATE TABLE audit" in s["sql"] for s in steps)
    assert p.db.snapshot() == before
    assert p.db.history_rows() == 0


def test_expression_typo_refused_before_any_change(project):
    p = project
    p.db.execute(ORDERS_DDL)
    p.write("0001_add_priority.yaml", ADD_PRIORITY.replace("total > 25", "totl > 25"))
    before = p.db.snapshot()
    r = p.expect(2, "expand")
    assert "totl" in r.err and re.search(r"0001_add_priority\.yaml:\d+:\d+", r.err), r.err
    assert p.db.snapshot() == before
    p.db.execute("INSERT INTO orders (total) VALUES (5)")


def test_rollback_refused_once_contract_started(users_project):
    p = users_project
    p.ok("expand")
    p.ok("backfill")
    p.ok("switch-reads")
    steps = p.json("plan", "1")["migrations"][0]["phases"]["contract"]
    r = p.run("contract", fault="contract:%d" % len(steps))
    assert r.rc in (-9, 137), r.describe()
    r = p.expect(1, "rollback", "1")
    assert "contract" in r.err, r.err
    p.ok("contract")
    assert p.db.query("SELECT count(*) FROM users WHERE username IS NULL") == [(0,)]
    assert p.db.query("SELECT count(*) FROM users") == [(5,)]
