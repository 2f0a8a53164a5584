"""The operations on MariaDB (label "mysql") where they have no PostgreSQL
twin: the rename's and add_column's writes between contract statements and
the placeholder, killed backfills, the contract gate, bad input, locks,
ON UPDATE timestamps, index copies at switch-reads and the user's
triggers, while the old (blue) and the new (green) version of an
application write to the table, against the MariaDB that conftest.py
starts (mariadb_server, mdb, mysql_project).

Everything asserted here is the documented behaviour (docs/concepts.md,
docs/file-format.md, docs/operations.md), as the PostgreSQL scenarios
(test_faults.py, test_colours.py, test_bad_input.py) check on PostgreSQL;
expressions (`up`, `down`, `backfill`) are MySQL SQL.

- backfill killed (fault point after a batch, a real kill -9, --jobs 3
  killed and resumed with --jobs 1): every row updated exactly once (a user
  AFTER UPDATE trigger logs every row update), --verify finds 0 mismatches;
- the contract gate: an alive colour that requires schema 0 (registered
  live, or retired with a matching session connected) refuses contract;
- bad input: a missing table or column exits 2 with file:line:column and
  changes nothing;
- a row locked by the application delays the backfill, is not skipped;
- a transaction holding a metadata lock on the table: expand exits 3 after
  its lock retries (young transaction) or 1 (older than --max-tx-age),
  changes nothing, and the application's writes wait at most about
  --lock-timeout each meanwhile (MariaDB waits for metadata locks in whole
  seconds: docs/commands.md);
- ON UPDATE CURRENT_TIMESTAMP columns keep their value for rows only the
  backfill touched.

Scenarios that exist for both databases live in one file per behaviour,
parametrised by target: rename_column, add_column, drop_column and
alter_column under traffic (test_rename_column.py, test_add_column.py,
test_drop_column.py, test_alter_column.py), rollback after expand and
after backfill (test_rollback.py), create_index online under traffic,
its rollback, a duplicate and refusals (test_create_index.py), the sql
operation (test_sql_op.py). They share the MariaDB catalog helpers and the
rename's users table and writers with this file (mysql_scenarios.py).

The scenarios marked both_dialects run twice (conftest.py): as MariaDB, and
with MIGRATE_TEST_MYSQL_DIALECT=1, where migrate plans the SQL it writes for
MySQL 8.0.29+ (catalog-guarded prepared ALTERs instead of IF [NOT] EXISTS,
INPLACE instead of NOCOPY, no CREATE OR REPLACE TRIGGER) and runs it on this
MariaDB: the MySQL code path under the same traffic, kills and checks.
test_mysql_dialect.py checks that dialect's SQL itself.

The writers are writers.Writer over pymysql connections (my_writer): they
record every value they wrote and every error, and can be paused so that a
check reads a table that nobody is writing at that moment.
"""

import json
import re
import threading
import time

import pytest

from conftest import Watch
from writers import (Writer, assert_rows, merged_expectations, paused, running,
                     wait_for_ops)

from mysql_scenarios import (  # noqa: F401 (the helpers this file uses)
    SEED,
    MARKER,
    KILLED,
    RENAME_FILE,
    RENAME_MIGRATION,
    USERS_DDL,
    USER_TRIGGER,
    my_writer,
    seed,
    columns,
    indexes,
    triggers,
    user_tables,
    schema_snapshot,
    leftovers,
    assert_no_leftovers,
    history_phase,
    phase_of,
    step,
    marker_counts,
    _blue_email,
    _green_email,
    rename_blue_insert,
    rename_blue_update,
    rename_green_insert,
    rename_green_update,
    setup_rename_users,
    rename_blue,
    rename_green,
    check_rename_views)

ADD_MIGRATION = """
description: Add orders.priority, computed from the total for old rows
operations:
  - add_column:
      table: orders
      column: priority
      type: smallint
      default: "0"
      nullable: false
      backfill: "CASE WHEN total > 1000 THEN 1 ELSE 0 END"
"""


def step_statements(project, phase, mid=1):
    """The statements of a phase's table steps as `plan --json` shows the
    recorded plan, one by one, in order. Only for phases without compound
    statements (contract, rollback): they end with ";" at the end of a
    line."""
    plan = project.json("plan", str(mid))["migrations"][0]
    out = []
    for s in plan["phases"][phase]:
        if not s["table"]:
            continue
        assert "BEGIN" not in s["sql"], s["sql"]
        out += [t.strip() + ";" for t in s["sql"].split(";\n") if t.strip()]
    return out


def green_through_contract_by_hand(p, green_writes):
    """From switch-reads to the end of contract with green writing, and
    contract's statements run by hand one at a time, as they take effect
    while the application writes (each DDL commits on its own; a statement
    that cannot have its metadata lock at once makes the step start over,
    so the state after an earlier statement lasts for as long as the
    retries; a crash leaves it until contract runs again). green_writes(
    cursor, tag) runs after switch-reads, after each statement, and after
    `migrate contract` (which finds the work done and records it)."""
    step(p, "switch-reads", "switched")
    statements = step_statements(p, "contract")
    assert sum(s.startswith("DROP TRIGGER") for s in statements) >= 2, statements
    db = p.db
    with db.connect(program_name="app/green") as g, g.cursor() as cur, \
            db.connect(program_name="by-hand") as h, h.cursor() as by_hand:
        green_writes(cur, "switched")
        for k, sql in enumerate(statements):
            by_hand.execute(sql)
            green_writes(cur, "s%d" % k)
        step(p, "contract", "contracted")
        green_writes(cur, "contracted")
    assert_no_leftovers(db)


@pytest.mark.both_dialects
def test_add_column_green_writes_between_contract_statements(mysql_project):
    """After every statement of contract, green inserts a row with a
    priority of its own and updates it leaving the priority as it is, and
    updates all its earlier rows the same way: every value green wrote
    survives contract.

    test_add_column_under_traffic failed this way in 4 of 60 runs (30
    per dialect, 2 in each) before the fix, and in none of 40 after:
    contract dropped the insert trigger before the update trigger, so a
    row green inserted in between kept marker 0, and green's next update
    of it, which left the priority as it was, looked like the old
    version's first write to a row the backfill had not reached; the
    update trigger replaced green's priority by the backfill expression."""
    p = mysql_project
    db = p.db
    db.execute("CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT"
               " PRIMARY KEY, total decimal(12,2) NOT NULL, note varchar(100))")
    seed(db, "INSERT INTO orders (total, note) VALUES (%s, %s)",
         [((g * 37) % 2000, "seed-%d" % g) for g in range(1, 51)])
    p.write("0001_add_priority.yaml", ADD_MIGRATION)
    step(p, "expand", "expanded")
    step(p, "backfill", "backfilled")
    green = {}

    def green_writes(cur, tag):
        # totals on both sides of the backfill expression's cut, and
        # priorities it never gives
        for total, prio in ((1500, 4), (500, 5)):
            cur.execute("INSERT INTO orders (total, note, priority)"
                        " VALUES (%s, %s, %s)", (total, tag, prio))
            row_id = cur.lastrowid
            cur.execute("UPDATE orders SET note = %s, priority = %s"
                        " WHERE id = %s", (tag + "-u", prio, row_id))
            green[row_id] = (tag + "-u", prio)
        for row_id, (note, prio) in sorted(green.items()):
            note = "%s/%s" % (note.split("/")[0], tag)
            cur.execute("UPDATE orders SET note = %s WHERE id = %s",
                        (note, row_id))
            green[row_id] = (note, prio)

    green_through_contract_by_hand(p, green_writes)
    actual = {r[0]: (r[1], r[2]) for r in db.query(
        "SELECT id, note, priority FROM orders WHERE id > 50")}
    assert_rows(actual, green, "(note, priority)")


@pytest.mark.both_dialects
def test_rename_green_writes_between_contract_statements(mysql_project):
    """The same for rename_column: green inserts a username and then
    updates only the email (the old order of contract's DROP TRIGGERs
    turned such a username into user_name's default, 'anon')."""
    p = mysql_project
    db = p.db
    setup_rename_users(db, n=20, user_trigger=False)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    step(p, "expand", "expanded")
    step(p, "backfill", "backfilled")
    green = {}

    def green_writes(cur, tag):
        cur.execute("INSERT INTO users (username, email) VALUES (%s, %s)",
                    ("green-" + tag, tag + "@x"))
        green[cur.lastrowid] = "green-" + tag
        for row_id in sorted(green):
            cur.execute("UPDATE users SET email = %s WHERE id = %s",
                        ("%d-%s@x" % (row_id, tag), row_id))

    green_through_contract_by_hand(p, green_writes)
    actual = dict(db.query("SELECT id, username FROM users WHERE id > 20"))
    assert_rows(actual, green, "username")


def test_add_column_green_writes_the_placeholder(mysql_project):
    """Until the backfill reaches a row, its new NOT NULL column holds the
    placeholder, 0 here (also priority's default). Green's insert of 0 is
    green's (the final insert trigger takes NULL for "not written"). Green's
    UPDATE that writes 0 into a row the backfill has not reached cannot be
    told from blue's update of another column: the trigger computes the
    backfill expression, as docs/concepts.md ("On MariaDB") says; with
    @migrate_writer = 'new' green's 0 stays, and the backfill leaves it."""
    p = mysql_project
    db = p.db
    db.execute("CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT"
               " PRIMARY KEY, total decimal(12,2) NOT NULL, note varchar(100))")
    seed(db, "INSERT INTO orders (total, note) VALUES (%s, %s)",
         [(1500, "seed-%d" % g) for g in range(1, 5)])
    p.write("0001_add_priority.yaml", ADD_MIGRATION)
    step(p, "expand", "expanded")
    with db.connect(program_name="app/green") as g, g.cursor() as cur:
        cur.execute("INSERT INTO orders (total, note, priority)"
                    " VALUES (1500, 'green', 0)")
        inserted = cur.lastrowid
        cur.execute("UPDATE orders SET priority = 0 WHERE id = 1")
        cur.execute("SET @migrate_writer = 'new'")
        cur.execute("UPDATE orders SET priority = 0 WHERE id = 2")
        cur.execute("UPDATE orders SET note = 'g', priority = 0 WHERE id = 3")
    step(p, "backfill", "backfilled")
    got = dict(db.query("SELECT id, priority FROM orders"))
    assert got == {1: 1, 2: 0, 3: 0, 4: 1, inserted: 0}, got


# ---------------------------------------------------------------------------
# 5. killed backfills resume, every row updated exactly once


def setup_logged_users(db, n=SEED):
    """The users table plus a log of every row update (a user AFTER UPDATE
    trigger): how many times each row was updated."""
    seeded = setup_rename_users(db, n, user_trigger=False)
    db.execute("CREATE TABLE touch_log (id bigint NOT NULL AUTO_INCREMENT"
               " PRIMARY KEY, user_id bigint NOT NULL)")
    db.execute("CREATE TRIGGER users_touch AFTER UPDATE ON users FOR EACH ROW"
               " INSERT INTO touch_log (user_id) VALUES (NEW.id)")
    return seeded


def assert_each_row_once(db, seeded):
    counts = dict(db.query("SELECT user_id, COUNT(*) FROM touch_log"
                           " GROUP BY user_id"))
    missing = sorted(set(seeded) - set(counts))
    twice = sorted(k for k, n in counts.items() if n != 1)
    assert not missing and not twice, (
        "rows never updated: %d (e.g. %s); rows updated more than once: %d"
        " (e.g. %s)" % (len(missing), missing[:10], len(twice),
                        [(k, counts[k]) for k in twice[:10]]))
    assert sum(counts.values()) == len(seeded)


def assert_copied(db, seeded):
    bad = db.query("SELECT id, user_name, username, `%s` FROM users"
                   " WHERE `%s` = 0 OR NOT (username <=> user_name)"
                   " ORDER BY id LIMIT 10" % (MARKER, MARKER))
    assert bad == [], "rows not (or wrongly) copied: %r" % bad
    assert_rows(dict(db.query("SELECT id, username FROM users")), seeded,
                "username")


def verify_doc(p):
    r = p.run("--json", "backfill", "1", "--verify")
    assert r.rc == 0, "backfill --verify\n" + r.describe()
    doc = json.loads(r.out)
    assert doc["mismatches"] == 0 and doc["sample_keys"] == [], doc
    return doc


def backfill_status(p):
    [m] = [m for m in p.json("status")["migrations"] if m["id"] == 1]
    return m["backfill"]


@pytest.mark.both_dialects
def test_backfill_fault_after_a_batch_resumes(mysql_project):
    p = mysql_project
    db = p.db
    seeded = setup_logged_users(db)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    p.ok("expand", "1")
    r = p.run("backfill", "1", "--batch-size", "100", fault="backfill:1:3")
    assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()
    untouched, done = marker_counts(db)
    assert done == 300 and untouched == SEED - 300, (done, untouched)
    assert backfill_status(p)["rows_done"] == 300
    # --verify during the window: the rows not reached yet count
    r = p.expect(1, "--json", "backfill", "1", "--verify")
    assert json.loads(r.out)["mismatches"] == SEED - 300, r.out

    p.ok("backfill", "1", "--batch-size", "100")
    assert phase_of(p) == "backfilled"
    assert_each_row_once(db, seeded)
    assert_copied(db, seeded)
    bf = backfill_status(p)
    assert bf["done"] is True and bf["rows_done"] == SEED, bf
    verify_doc(p)
    p.ok("switch-reads", "1")


@pytest.mark.both_dialects
def test_real_kill_during_backfill_resumes(mysql_project):
    p = mysql_project
    db = p.db
    seeded = setup_logged_users(db)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    p.ok("expand", "1")
    w = Watch(p.popen("--json", "backfill", "1", "--batch-size", "100", "--sleep", "40"))
    assert w.kill_after_progress() in KILLED, w.err
    untouched, done = marker_counts(db)
    assert 0 < done < SEED and untouched == SEED - done, (done, untouched)

    p.ok("backfill", "1", "--batch-size", "500")
    assert_each_row_once(db, seeded)
    assert_copied(db, seeded)
    bf = backfill_status(p)
    assert bf["done"] is True and bf["rows_done"] <= SEED, bf
    verify_doc(p)
    p.ok("switch-reads", "1")


@pytest.mark.both_dialects
def test_parallel_backfill_killed_resumes_with_one_job(mysql_project):
    p = mysql_project
    db = p.db
    seeded = setup_logged_users(db)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    p.ok("expand", "1")
    r = p.run("backfill", "1", "--jobs", "3", "--batch-size", "100",
              fault="backfill:1:5")
    assert r.rc in KILLED, "expected the fault to kill migrate\n" + r.describe()
    untouched, done = marker_counts(db)
    assert 500 <= done < SEED, (done, untouched)
    bf = backfill_status(p)
    assert len(bf["checkpoints"]) == 3, bf      # the range was cut in 3 parts
    assert bf["done"] is False, bf

    p.ok("backfill", "1", "--jobs", "1", "--batch-size", "100")
    assert phase_of(p) == "backfilled"
    assert_each_row_once(db, seeded)
    assert_copied(db, seeded)
    bf = backfill_status(p)
    assert bf["done"] is True, bf
    assert all(c["done"] for c in bf["checkpoints"]), bf
    verify_doc(p)
    p.ok("switch-reads", "1")


# ---------------------------------------------------------------------------
# 7. the contract gate: an alive colour that needs schema 0


def test_contract_refused_while_old_colour_alive(mysql_project):
    p = mysql_project
    db = p.db
    setup_rename_users(db, 200)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    db.grant_session_visibility()
    db.create_user("shop_blue_1", "shop-pw-1", privileges="SELECT, INSERT, UPDATE")
    p.ok("colour", "register", "blue", "--app-version", "1.0", "--requires", "0",
         "--match", "shop_blue*")
    for command in ("expand", "backfill", "switch-reads"):
        p.ok(command, "1")
    snap = schema_snapshot(db)

    # registered live
    r = p.expect(1, "contract", "1")
    assert "colour blue" in r.err, r.describe()
    assert schema_snapshot(db) == snap
    assert phase_of(p) == "switched"

    # retired in the registry, but a session of it is still connected
    p.ok("colour", "set", "blue", "--state", "retired")
    app = db.connect(user="shop_blue_1", password="shop-pw-1",
                     program_name="shop-blue-web-1")
    with app.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM users")
        cur.fetchall()
    r = p.expect(1, "contract", "1")
    assert "colour blue" in r.err and "session" in r.err, r.describe()
    assert schema_snapshot(db) == snap
    assert phase_of(p) == "switched"

    conn_id = app.thread_id()
    app.close()
    db.wait_gone(conn_id)
    p.ok("contract", "1")
    assert phase_of(p) == "contracted"
    assert "user_name" not in columns(db, "users")
    assert history_phase(db) == "contracted"


# ---------------------------------------------------------------------------
# 8. bad input


def pos(text, needle):
    i = text.index(needle)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


BAD = {
    "missing_table": ("""
        description: rename
        operations:
          - rename_column:
              table: userz
              from: user_name
              to: username
        """, ["userz", "table:"]),
    "missing_column": ("""
        description: rename
        operations:
          - rename_column:
              table: users
              from: usr_name
              to: username
        """, ["usr_name", "from:"]),
    "second_operation_missing_column": ("""
        description: two steps, the second one wrong
        operations:
          - add_column:
              table: users
              column: nickname
              type: varchar(50)
              default: "'x'"
          - alter_column:
              table: users
              column: no_such_column
              to: wide
              type: bigint
              up: "no_such_column"
              down: "wide"
        """, ["no_such_column", "column: no_such_column"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_changes_nothing(mysql_project, case):
    p = mysql_project
    db = p.db
    seeded = setup_rename_users(db, 50)
    text, needles = BAD[case]
    path = p.write("0001_bad.yaml", text)
    body = path.read_text()
    before = schema_snapshot(db)
    for args in (("expand",), ("expand", "1"), ("plan", "1")):
        r = p.expect(2, *args)
        wanted = ["0001_bad.yaml:%d:%d" % pos(body, n) for n in needles]
        assert any(w in r.err for w in wanted), (
            "stderr names none of %s\n" % wanted + r.describe())
        assert schema_snapshot(db) == before, "the database was changed"
        assert db.history_rows() == 0, "_migrate_history has rows"
        assert_no_leftovers(db, own_triggers=("users_email_lower",))
    assert dict(db.query("SELECT id, user_name FROM users")) == seeded
    assert phase_of(p) == "pending"


# ---------------------------------------------------------------------------
# 9. a row locked by the application


def test_locked_row_is_passed_over_not_waited_for(mysql_project):
    """A batch never waits for a row the application holds (issue 15): the
    rest of the table is copied while row 1500 is held, the backfill keeps
    passing over its range, and ends once the holder has written it."""
    p = mysql_project
    db = p.db
    seeded = setup_rename_users(db, SEED, user_trigger=False)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    p.ok("expand", "1")
    holder = db.connect(program_name="app/holder")
    with holder.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT user_name FROM users WHERE id = 1500 FOR UPDATE")
        assert cur.fetchone() == ("seed-1500",)
    proc = p.popen("backfill", "1", "--batch-size", "100")
    try:
        total = len(seeded)
        deadline = time.monotonic() + 30
        while db.query("SELECT COUNT(*) FROM users WHERE `%s` <> 0" % MARKER)[0][0] \
                < total - 1:
            assert proc.poll() is None, "backfill ended: %r" % (proc.communicate(),)
            assert time.monotonic() < deadline, "backfill did not copy the free rows"
            time.sleep(0.05)
        time.sleep(1)
        assert proc.poll() is None, (
            "the backfill finished while row 1500 was held: %r" % (
                proc.communicate(),))
        # only the held row is left (the new side holds no copy of it yet)
        assert db.query("SELECT id FROM users WHERE `%s` = 0" % MARKER) == [(1500,)]
        assert db.query("SELECT username <=> user_name FROM users"
                        " WHERE id = 1500") == [(0,)]
        with holder.cursor() as cur:
            cur.execute("UPDATE users SET user_name = 'held-and-changed'"
                        " WHERE id = 1500")
            cur.execute("COMMIT")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert phase_of(p) == "backfilled"
    seeded[1500] = "held-and-changed"
    assert_copied(db, seeded)
    assert db.query("SELECT user_name, username FROM users WHERE id = 1500") \
        == [("held-and-changed", "held-and-changed")]
    verify_doc(p)


# ---------------------------------------------------------------------------
# 10. a transaction holding a metadata lock on the table


@pytest.mark.both_dialects
def test_metadata_lock_holder_blocks_expand_not_the_application(mysql_project):
    p = mysql_project
    db = p.db
    seeded = setup_rename_users(db, 1000)
    db.grant_session_visibility()
    p.write(RENAME_FILE, RENAME_MIGRATION)
    before = schema_snapshot(db)
    blue = rename_blue(db, seeded)
    # MariaDB waits for metadata locks in whole seconds: --lock-timeout
    # is rounded up to them (docs/commands.md), so ask for a whole second
    lock_timeout_ms = 1000

    def untouched():
        assert schema_snapshot(db) == before, "expand changed the schema"
        assert history_phase(db) is None, "expand wrote a history row"
        assert phase_of(p) == "pending"

    with running(blue):
        wait_for_ops(blue, 15)
        holder = db.connect(program_name="report-job")
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT COUNT(*) FROM users")
            cur.fetchall()

        # a young transaction: expand waits for the lock, lock_timeout per
        # try, and gives up after its retries (exit 3)
        t0 = time.monotonic()
        r = p.run("--lock-timeout", str(lock_timeout_ms), "--lock-retries", "2",
                  "--max-tx-age", "60", "expand", "1")
        t1 = time.monotonic()
        assert r.rc == 3, "expected exit 3 (lock timeout)\n" + r.describe()
        assert "lock" in r.err.lower(), r.describe()
        assert t1 - t0 >= 3 * lock_timeout_ms / 1000.0, \
            "expand gave up before three tries of %d ms" % lock_timeout_ms
        untouched()
        during = [(s, d, op) for s, d, op in blue.latencies
                  if s >= t0 and s + d <= t1]
        assert len(during) >= 5, "blue made almost no progress while expand " \
            "waited (%d ops in %.1f s)" % (len(during), t1 - t0)
        # ops that were still waiting when expand ended count too
        waited = [d for s, d, op in blue.latencies if t0 <= s <= t1]
        assert max(waited) < lock_timeout_ms / 1000.0 + 0.4, (
            "an application write waited %.2f s while expand waited for its "
            "lock (--lock-timeout %d ms)" % (max(waited), lock_timeout_ms))

        # the same transaction, now older than --max-tx-age: refused (exit 1)
        time.sleep(2.2)
        r = p.run("--max-tx-age", "1", "expand", "1")
        assert r.rc == 1, "expected exit 1 (long transaction)\n" + r.describe()
        assert "long transaction" in r.err, r.describe()
        assert str(holder.thread_id()) in r.err or "report-job" in r.err, \
            r.describe()
        untouched()
        wait_for_ops(blue, 10)

        with holder.cursor() as cur:
            cur.execute("COMMIT")
        # information_schema.INNODB_TRX is a cache, refreshed only by a read
        # that comes 0.1 s or more after the previous read: poll it slowly
        # until it shows the transaction ended
        deadline = time.monotonic() + 5
        while db.admin_query("SELECT COUNT(*) FROM information_schema.INNODB_TRX"
                             " WHERE trx_mysql_thread_id = %s",
                             (holder.thread_id(),))[0][0]:
            assert time.monotonic() < deadline, "the transaction did not end: %r %r" % (
                db.admin_query("SELECT trx_mysql_thread_id, trx_state, trx_started,"
                               " trx_query FROM information_schema.INNODB_TRX"),
                db.sessions())
            time.sleep(0.25)
        time.sleep(0.25)
        step(p, "expand", "expanded")
        wait_for_ops(blue, 15)
    assert_rows(dict(db.query("SELECT id, user_name FROM users")),
                merged_expectations(blue), "user_name")


def test_expand_waits_for_a_gap_without_queueing_the_application(mysql_project):
    """MariaDB: a DDL step first tries without waiting for its metadata
    lock (lock_wait_timeout 0), again and again, for up to --lock-timeout.
    While a transaction holds the table, the application's statements are
    not queued behind a waiting ALTER: an insert during that time is not
    delayed, and expand goes through once the transaction ends."""
    p = mysql_project
    db = p.db
    setup_rename_users(db, 100)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    holder = db.connect(program_name="report-job")
    app = db.connect(program_name="app/blue")
    hold_s = 1.5

    def hold():
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT COUNT(*) FROM users")
            cur.fetchall()
            time.sleep(hold_s)
            cur.execute("COMMIT")

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    proc = p.popen("--lock-timeout", "4000", "expand", "1")
    time.sleep(0.4)         # expand is trying now, the holder still holds
    assert proc.poll() is None, "expand did not wait for the holder"
    with app.cursor() as cur:
        s0 = time.monotonic()
        cur.execute("INSERT INTO users (user_name) VALUES ('during-expand')")
        took = time.monotonic() - s0
    out, err = proc.communicate(timeout=60)
    t.join(10)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 >= hold_s - 0.2, "expand did not wait for the holder"
    assert took < 0.5, ("an insert waited %.2f s behind expand's lock request" % took)
    assert "lock not granted" not in err, err
    p.ok("backfill", "1")
    row = db.query("SELECT user_name, username FROM users WHERE user_name = 'during-expand'")
    assert row == [("during-expand", "during-expand")], row


# ---------------------------------------------------------------------------
# 11. ON UPDATE CURRENT_TIMESTAMP


STAMP_MIGRATIONS = {
    "rename": """
        description: Rename events.title to events.name
        operations:
          - rename_column:
              table: events
              from: title
              to: name
        """,
    "add": """
        description: Add events.title_len
        operations:
          - add_column:
              table: events
              column: title_len
              type: int
              default: "0"
              nullable: false
              backfill: "CHAR_LENGTH(title)"
        """,
}


@pytest.mark.both_dialects
@pytest.mark.parametrize("op", sorted(STAMP_MIGRATIONS))
def test_on_update_timestamp_kept_by_backfill(mysql_project, op):
    p = mysql_project
    db = p.db
    db.execute("CREATE TABLE events (id bigint NOT NULL AUTO_INCREMENT"
               " PRIMARY KEY, title varchar(100) NOT NULL,"
               " updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP"
               " ON UPDATE CURRENT_TIMESTAMP)")
    seed(db, "INSERT INTO events (title, updated_at) VALUES (%s, %s)",
         [("event-%d" % g, "2001-02-03 04:05:%02d" % (g % 60))
          for g in range(1, 1001)])
    stamps = dict(db.query("SELECT id, updated_at FROM events"))
    p.write("0001_events.yaml", STAMP_MIGRATIONS[op])
    p.ok("expand", "1")
    # the application updates one row: its stamp moves, as it always did
    db.execute("UPDATE events SET title = 'changed by the app' WHERE id = 7")
    p.ok("backfill", "1", "--batch-size", "100")
    p.ok("switch-reads", "1")
    now = dict(db.query("SELECT id, updated_at FROM events"))
    assert now[7] > stamps[7], "the application's update did not move updated_at"
    del now[7]
    del stamps[7]
    changed = {k: (stamps[k], now[k]) for k in stamps if now[k] != stamps[k]}
    assert not changed, "the backfill changed updated_at of %d rows, e.g. %r" % (
        len(changed), list(changed.items())[:5])
    if op == "rename":
        assert db.query("SELECT COUNT(*) FROM events WHERE NOT (name <=> title)"
                        ) == [(0,)]
    else:
        assert db.query("SELECT COUNT(*) FROM events WHERE"
                        " NOT (title_len <=> CHAR_LENGTH(title))") == [(0,)]
    p.ok("contract", "1")
    after = dict(db.query("SELECT id, updated_at FROM events"))
    del after[7]
    assert after == stamps, "contract changed updated_at"
    ddl = db.admin_query("SHOW CREATE TABLE events")[0][1]
    assert re.search(r"`updated_at` timestamp NOT NULL DEFAULT current_timestamp\(\)"
                     r" ON UPDATE current_timestamp\(\)", ddl), ddl
    assert_no_leftovers(db)


# ---------------------------------------------------------------------------
# index copies are built after the backfill


@pytest.mark.both_dialects
def test_index_copies_are_built_at_switch_reads(mysql_project):
    """A copy of an index over a replaced column is built at switch-reads,
    after the backfill (one sorted build, not an index update per copied
    row): plan lists it there, expand leaves it out, switch-reads builds
    it, contract gives it the original's name."""
    p = mysql_project
    db = p.db
    setup_rename_users(db, 50)
    p.write(RENAME_FILE, RENAME_MIGRATION)
    [m] = p.json("plan", "1")["migrations"]

    def builds(phase):
        return [s["description"] for s in m["phases"][phase] if "build index" in s["description"]]

    assert builds("expand") == [], m["phases"]["expand"]
    assert len(builds("switch-reads")) == 1, m["phases"]["switch-reads"]

    def indexes():
        return sorted(r[0] for r in db.query(
            "SELECT DISTINCT index_name FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND table_name = 'users'"))

    p.ok("expand", "1")
    assert indexes() == ["PRIMARY", "users_user_name_idx"]
    p.ok("backfill", "1")
    assert indexes() == ["PRIMARY", "users_user_name_idx"]
    p.ok("switch-reads", "1")
    copies = [i for i in indexes() if i not in ("PRIMARY", "users_user_name_idx")]
    assert len(copies) == 1, indexes()
    cols = db.query("SELECT column_name FROM information_schema.statistics"
                    " WHERE table_schema = DATABASE() AND index_name = %s", (copies[0],))
    assert cols == [("username",)], cols
    p.ok("contract", "1")
    assert indexes() == ["PRIMARY", "users_user_name_idx"]
    cols = db.query("SELECT column_name FROM information_schema.statistics"
                    " WHERE table_schema = DATABASE() AND index_name = 'users_user_name_idx'")
    assert cols == [("username",)], cols


@pytest.mark.both_dialects
def test_unique_copy_with_duplicates_fails_switch_reads_and_rolls_back(mysql_project):
    """An alter_column whose `up` maps two rows onto one value: the copy
    of the unique index cannot be built. switch-reads fails with exit 1
    naming the value, changes nothing the old version uses, and rollback
    gives the table back as it was."""
    p = mysql_project
    db = p.db
    db.execute("CREATE TABLE codes (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " code varchar(20) NOT NULL, UNIQUE KEY codes_code (code))")
    db.execute("INSERT INTO codes (code) VALUES ('ab-1'), ('ab-2'), ('cd-1')")
    def ddl():   # the counter moves with the old version's insert below
        return re.sub(r" AUTO_INCREMENT=\d+", "", db.query("SHOW CREATE TABLE codes")[0][1])

    before = ddl()
    p.write("0001_alter.yaml", """
description: shorten codes
operations:
  - alter_column:
      table: codes
      column: code
      to: code_short
      type: varchar(2)
      up: "LEFT(code, 2)"
      down: "CONCAT(code_short, '-0')"
""")
    p.ok("expand", "1")
    p.ok("backfill", "1")
    r = p.expect(1, "switch-reads", "1")
    assert "Duplicate entry 'ab'" in r.err, r.describe()
    assert p.phases()[1] == "backfilled", p.phases()
    # the old version goes on as before
    db.execute("INSERT INTO codes (code) VALUES ('ef-1')")
    p.ok("rollback", "1")
    assert p.phases()[1] == "pending", p.phases()
    assert ddl() == before
    assert [r[0] for r in db.query("SELECT code FROM codes ORDER BY id")] == \
        ["ab-1", "ab-2", "cd-1", "ef-1"]


@pytest.mark.both_dialects
def test_dual_write_triggers_follow_the_users_own(mysql_project):
    """The user's own BEFORE INSERT and BEFORE UPDATE triggers change a
    column that the new column is computed from; migrate's triggers run
    after them (FOLLOWS), so the new column is computed from the value the
    row really stores, for inserts and updates alike; contract leaves the
    user's triggers in place."""
    p = mysql_project
    db = p.db
    db.execute("CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " email varchar(100) NOT NULL)")
    db.execute("CREATE TRIGGER users_lower_ins BEFORE INSERT ON users FOR EACH ROW"
               " SET NEW.email = LOWER(NEW.email)")
    db.execute("CREATE TRIGGER users_lower_upd BEFORE UPDATE ON users FOR EACH ROW"
               " SET NEW.email = LOWER(NEW.email)")
    db.execute("INSERT INTO users (email) VALUES ('ann@a.example'), ('bob@b.example')")
    p.write("0001_domain.yaml", """
description: Add users.domain
operations:
  - add_column:
      table: users
      column: domain
      type: varchar(100)
      backfill: "SUBSTRING_INDEX(email, '@', -1)"
""")
    p.ok("expand", "1")
    order = db.query("SELECT event_manipulation, trigger_name FROM information_schema.triggers"
                     " WHERE trigger_schema = DATABASE() AND event_object_table = 'users'"
                     " ORDER BY event_manipulation, action_order")
    ins = [n for e, n in order if e == "INSERT"]
    upd = [n for e, n in order if e == "UPDATE"]
    assert ins[0] == "users_lower_ins" and len(ins) == 2, order
    assert upd[0] == "users_lower_upd" and len(upd) == 2, order
    db.execute("INSERT INTO users (email) VALUES ('carl@C.EXAMPLE')")          # blue
    db.execute("UPDATE users SET email = 'bob@NEW.EXAMPLE' WHERE id = 2")    # blue
    p.ok("backfill", "1")
    assert db.query("SELECT id, email, domain FROM users ORDER BY id") == \
        [(1, "ann@a.example", "a.example"), (2, "bob@new.example", "new.example"),
         (3, "carl@c.example", "c.example")]
    p.ok("switch-reads", "1")
    p.ok("contract", "1")
    left = db.query("SELECT trigger_name FROM information_schema.triggers"
                    " WHERE trigger_schema = DATABASE() ORDER BY 1")
    assert left == [("users_lower_ins",), ("users_lower_upd",)], left
