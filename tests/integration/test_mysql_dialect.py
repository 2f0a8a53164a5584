"""The MySQL dialect of the mysql driver's plans (label "mysql"), run on the
MariaDB that conftest.py starts.

On MySQL (8.0.29 or later) migrate writes only SQL that MySQL and MariaDB
both accept; MIGRATE_TEST_MYSQL_DIALECT=1 makes it write that SQL on MariaDB
too, which is how these tests (and the scenarios of test_mysql_ops.py marked
both_dialects) run the MySQL code path without a MySQL server. This file
checks what is particular to it:

- the plan of a migration with every operation, dependents listed under
  drops: (a CHECK constraint, the column's own foreign key, another table's
  foreign key onto it) and NOT NULL new columns holds none of MariaDB's own
  forms (ADD COLUMN IF NOT EXISTS, DROP COLUMN/INDEX/CONSTRAINT/FOREIGN KEY
  IF EXISTS, ADD INDEX IF NOT EXISTS, ALGORITHM=NOCOPY, CREATE OR REPLACE
  TRIGGER), and MariaDB's plan of it does (the hook is what switches);
- that migration through expand, backfill, switch-reads and contract, and
  through expand and rollback, in both dialects, with every step run a
  second time after its phase (as after a crash between a step's
  statements and its history row): nothing changes the second time;
- contract after a crash between its two ALTERs (the dialect drops the
  indexes and constraints, then the columns): the indexes are gone, the
  columns are not, and contract finishes;
- the moment in expand when the transitional and the final insert trigger
  both exist: old- and new-version inserts still come out right (each row
  handled once);
- a table whose columns cannot be added instantly (ROW_FORMAT=COMPRESSED):
  refused without allow_rebuild (nothing changed), with it the step falls
  back from INSTANT to INPLACE inside the prepared statement, never
  through NOCOPY in the MySQL dialect;
- MySQL older than 8.0.29 (the hook's version form) is refused at plan
  time, exit 2, naming the version found and the one needed.
"""

import json
import re
import sqlite3

import pytest
from pymysql.constants import CLIENT

from conftest import APP_USER, MYSQL_APP_PASSWORD
from mysql_scenarios import schema_snapshot

DIALECT = {"MIGRATE_TEST_MYSQL_DIALECT": "1"}

SCHEMA = [
    """CREATE TABLE accounts (
        id int PRIMARY KEY,
        code varchar(20) NOT NULL,
        UNIQUE KEY accounts_code_key (code)
    ) ENGINE=InnoDB""",
    """CREATE TABLE users (
        id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
        user_name varchar(100) NOT NULL DEFAULT 'anon',
        email varchar(200) NULL,
        score int NOT NULL,
        acct varchar(20) NULL,
        note varchar(50) NULL,
        KEY users_user_name_idx (user_name, email),
        CONSTRAINT users_score_ck CHECK (score >= 0),
        CONSTRAINT users_acct_fk FOREIGN KEY (acct) REFERENCES accounts (code)
    ) ENGINE=InnoDB""",
    """CREATE TABLE invoices (
        id int PRIMARY KEY,
        account_code varchar(20) NULL,
        CONSTRAINT invoices_account_fk FOREIGN KEY (account_code)
            REFERENCES accounts (code)
    ) ENGINE=InnoDB""",
    """CREATE TRIGGER users_email_lower BEFORE INSERT ON users FOR EACH ROW
       SET NEW.email = LOWER(NEW.email)""",
    "INSERT INTO accounts VALUES (1, 'a'), (2, 'b')",
    """INSERT INTO users (user_name, email, score, acct, note) VALUES
       ('ann', 'Ann@Example.com', 3, 'a', 'x'), ('bob', NULL, 4, 'b', NULL),
       ('cy', 'cy@example.com', 5, NULL, 'y')""",
    "INSERT INTO invoices VALUES (1, 'a'), (2, 'b')",
]

EVERY_OP_FILE = "0001_every_op.yaml"
EVERY_OP = """
description: every operation, with dependents dropped at contract
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
  - add_column:
      table: users
      column: status
      type: varchar(20)
      nullable: false
      default: "'active'"
  - alter_column:
      table: users
      column: score
      to: score_big
      type: bigint
      up: "score"
      down: "score_big"
      drops: [users_score_ck]
  - drop_column:
      table: users
      column: acct
      drops: [users_acct_fk]
  - drop_column:
      table: users
      column: note
  - create_index:
      table: users
      name: users_email_idx
      columns: [email]
      unique: true
  - rename_column:
      table: accounts
      from: code
      to: account_code
      drops: [invoices_account_fk, users_acct_fk]
"""

# MariaDB's own forms, none of which MySQL 8 has
MARIADB_ONLY = [
    r"\bADD COLUMN IF NOT EXISTS\b",
    r"\bDROP COLUMN IF EXISTS\b",
    r"\bADD (UNIQUE |FULLTEXT |SPATIAL )?INDEX IF NOT EXISTS\b",
    r"\bDROP INDEX IF EXISTS\b",
    r"\bDROP CONSTRAINT IF EXISTS\b",
    r"\bDROP FOREIGN KEY IF EXISTS\b",
    r"\bNOCOPY\b",
    r"\bOR REPLACE\b",
]

# what migrate's session sets (drivers/mysql/conn.c, set_session)
SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,"
           "NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', "
           "time_zone = '+00:00'")


def setup_every_op(p):
    for sql in SCHEMA:
        p.db.execute(sql)
    p.write(EVERY_OP_FILE, EVERY_OP)


def plan_phases(p, env=None):
    doc = p.json("plan", "1", env=env)
    return doc["migrations"][0]["phases"]


def run_again(db, steps):
    """Run each step's SQL (checks excepted) once more as migrate sends it:
    one multi-statement request per step, in migrate's session."""
    c = db.server.pymysql.connect(
        host=db.server.host, port=db.server.port, user=APP_USER,
        password=MYSQL_APP_PASSWORD, database=db.name, autocommit=True,
        charset="utf8mb4", client_flag=CLIENT.MULTI_STATEMENTS,
        program_name="pytest-rerun")
    try:
        with c.cursor() as cur:
            cur.execute(SESSION)
            for s in steps:
                if s["kind"] == "assert":
                    continue
                cur.execute(s["sql"])
                while cur.nextset():
                    pass
    finally:
        c.close()


def rows(db):
    return {
        "users": db.admin_query("SELECT * FROM users ORDER BY id"),
        "accounts": db.admin_query("SELECT * FROM accounts ORDER BY id"),
        "invoices": db.admin_query("SELECT * FROM invoices ORDER BY id"),
    }


def mariadb_only_forms(text):
    """The MariaDB-only forms in the SQL of a plan (its notes, the lines
    starting with '-- ', may name them)."""
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("-- "))
    return [m.group(0) for pat in MARIADB_ONLY for m in re.finditer(pat, sql)]


def test_plan_holds_no_mariadb_only_form(mysql_project):
    p = mysql_project
    setup_every_op(p)
    mysql8 = p.ok("plan", "1", env=DIALECT).out
    assert not mariadb_only_forms(mysql8), mysql8
    # what the dialect uses instead: catalog guards, INPLACE, the
    # transitional trigger, CREATE TRIGGER IF NOT EXISTS (MySQL 8.0.29+)
    assert "PREPARE _mg_stmt FROM @_mg_sql;" in mysql8, mysql8
    assert "'ADD COLUMN `username` varchar(100)" in mysql8, mysql8
    assert "'DROP CONSTRAINT `users_score_ck`', NULL)" in mysql8, mysql8
    assert "'DROP FOREIGN KEY `invoices_account_fk`', NULL)" in mysql8, mysql8
    assert ", ALGORITHM=INPLACE, LOCK=NONE')" in mysql8, mysql8
    assert "CREATE TRIGGER IF NOT EXISTS `_mg1_users_bt`" in mysql8, mysql8
    assert "DROP TRIGGER IF EXISTS `_mg1_users_bt`;" in mysql8, mysql8
    assert "SET DEFAULT (\\'active\\')" in mysql8, mysql8
    assert "MySQL has no NOCOPY" in mysql8, mysql8
    # the same migration planned for MariaDB uses each of them
    mariadb = p.ok("plan", "1").out
    found = set(mariadb_only_forms(mariadb))
    assert len(found) >= len(MARIADB_ONLY), sorted(found)
    assert "PREPARE _mg_stmt" in mariadb   # RENAME INDEX: guarded on both



@pytest.mark.both_dialects
def test_every_step_runs_again_harmlessly(mysql_project):
    p = mysql_project
    setup_every_op(p)
    phases = plan_phases(p)
    for phase in ("expand", "backfill", "switch-reads", "contract"):
        p.ok(phase, "1")
        schema, data = schema_snapshot(p.db), rows(p.db)
        run_again(p.db, phases[phase])
        assert schema_snapshot(p.db) == schema, phase
        assert rows(p.db) == data, phase
    users = p.db.admin_query(
        "SELECT username, email, status, score_big FROM users ORDER BY id")
    assert users == [("ann", "ann@example.com", "active", 3),
                     ("bob", None, "active", 4),
                     ("cy", "cy@example.com", "active", 5)], users
    cols = [r[0] for r in p.db.admin_query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema"
        " = %s AND table_name = 'users' ORDER BY ordinal_position", (p.db.name,))]
    assert cols == ["id", "email", "username", "status", "score_big"], cols
    ddl = p.db.admin_query("SHOW CREATE TABLE users")[0][1]
    assert "KEY `users_user_name_idx` (`username`,`email`)" in ddl, ddl
    assert "DEFAULT 'active'" in ddl, ddl
    assert "users_score_ck" not in ddl and "users_acct_fk" not in ddl, ddl
    inv = p.db.admin_query("SHOW CREATE TABLE invoices")[0][1]
    assert "FOREIGN KEY" not in inv, inv
    # the new version inserts without the old columns
    p.db.execute("INSERT INTO users (username, email, score_big) VALUES ('dee', 'D@x', 7)")
    assert p.db.query("SELECT email, status FROM users WHERE username = 'dee'") \
        == [("d@x", "active")]


@pytest.mark.both_dialects
def test_rollback_steps_run_again_harmlessly(mysql_project):
    p = mysql_project
    setup_every_op(p)
    before = schema_snapshot(p.db), rows(p.db)
    phases = plan_phases(p)
    p.ok("expand", "1")
    p.ok("backfill", "1")
    p.ok("rollback", "1")
    assert (schema_snapshot(p.db), rows(p.db)) == before
    run_again(p.db, phases["rollback"])
    assert (schema_snapshot(p.db), rows(p.db)) == before


@pytest.mark.both_dialects
def test_contract_after_a_crash_between_its_alters(mysql_project):
    """The dialect's contract drops the indexes and constraints of the
    columns in one ALTER and the columns in the next: a crash between them
    leaves the first done. Contract then skips what is gone and finishes
    (MariaDB's single ALTER with IF EXISTS on each clause: the same)."""
    p = mysql_project
    setup_every_op(p)
    for phase in ("expand", "backfill", "switch-reads"):
        p.ok(phase, "1")
    p.db.execute("ALTER TABLE users DROP INDEX users_user_name_idx, "
                 "DROP CONSTRAINT users_score_ck, DROP FOREIGN KEY users_acct_fk")
    p.db.execute("ALTER TABLE invoices DROP FOREIGN KEY invoices_account_fk")
    p.ok("contract", "1")
    ddl = p.db.admin_query("SHOW CREATE TABLE users")[0][1]
    assert "KEY `users_user_name_idx` (`username`,`email`)" in ddl, ddl
    assert "`user_name`" not in ddl and "`_migrate_1`" not in ddl, ddl


def test_insert_while_both_insert_triggers_exist(mysql_project):
    """Expand in the dialect creates the final insert trigger (_bi) beside
    the transitional one (_bt) and then drops _bt. While both exist, the
    first to fire sets the marker and the other lets the row pass: an old
    version's insert and a new version's insert come out as with one
    trigger. Both are made to exist by running expand's first step again
    without its last statement (where a crash could stop it)."""
    p = mysql_project
    setup_every_op(p)
    expand = plan_phases(p, env=DIALECT)["expand"]
    p.ok("expand", "1", env=DIALECT)
    first = dict(expand[0])
    last = "DROP TRIGGER IF EXISTS `_mg1_users_bt`;\n"
    assert first["sql"].endswith(last), first["sql"]
    first["sql"] = first["sql"][:-len(last)]
    run_again(p.db, [first])
    names = [r[0] for r in p.db.admin_query(
        "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema"
        " = %s AND event_object_table = 'users' AND event_manipulation = 'INSERT'"
        " ORDER BY action_order", (p.db.name,))]
    assert names == ["users_email_lower", "_mg1_users_bt", "_mg1_users_bi"], names
    p.db.execute("INSERT INTO users (user_name, email, score) VALUES ('old', 'O@x', 8)")
    p.db.execute("INSERT INTO users (username, email, score_big, status) "
                 "VALUES ('new', 'N@x', 9, 'gold')")
    got = p.db.admin_query(
        "SELECT user_name, username, score, score_big, status, email, _migrate_1"
        " FROM users WHERE email IN ('o@x', 'n@x') ORDER BY id")
    assert got == [("old", "old", 8, 8, "active", "o@x", 1),
                   ("new", "new", 9, 9, "gold", "n@x", 2)], got
    run_again(p.db, [expand[0]])    # the step run again in full: _bt goes
    names = [r[0] for r in p.db.admin_query(
        "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema"
        " = %s AND event_object_table = 'users' AND event_manipulation = 'INSERT'"
        " ORDER BY action_order", (p.db.name,))]
    assert names == ["users_email_lower", "_mg1_users_bi"], names


COMPRESSED_FILE = "0001_add_flag.yaml"
COMPRESSED = """
description: add a column to a compressed table
operations:
  - add_column:
      table: packed
      column: flag
      type: int
      nullable: true%s
"""


@pytest.mark.both_dialects
def test_column_that_needs_a_rebuild_falls_back_only_when_allowed(mysql_project):
    """ROW_FORMAT=COMPRESSED tables cannot take a column instantly (nor,
    on MariaDB, with NOCOPY): expand is refused without allow_rebuild
    and changes nothing; with it the step falls back to INPLACE. In the
    MySQL dialect the ALTER is inside the prepared statement's string and
    the fallback rewrites it there, straight from INSTANT to INPLACE."""
    p = mysql_project
    p.db.execute("CREATE TABLE packed (id int PRIMARY KEY, a int) "
                 "ENGINE=InnoDB ROW_FORMAT=COMPRESSED")
    p.db.execute("INSERT INTO packed VALUES (1, 1), (2, 2)")
    before = schema_snapshot(p.db)
    p.write(COMPRESSED_FILE, COMPRESSED % "")
    r = p.expect(1, "expand", "1")
    assert "allow_rebuild: true" in r.err, r.describe()
    assert schema_snapshot(p.db) == before
    p.ok("rollback", "1")
    p.write(COMPRESSED_FILE, COMPRESSED % "\n      allow_rebuild: true")
    r = p.ok("expand", "1")
    assert "trying ALGORITHM=INPLACE, LOCK=NONE" in r.err, r.describe()
    if p.dialect == "mysql8":
        assert "NOCOPY" not in r.err, r.describe()
    else:
        assert "trying ALGORITHM=NOCOPY" in r.err, r.describe()
    assert "`flag` int(11) DEFAULT NULL" in \
        p.db.admin_query("SHOW CREATE TABLE packed")[0][1]


def recorded_plan(project, migration_id, text=None):
    """The plan JSON text the state file holds for the migration; with
    text, replace it first."""
    con = sqlite3.connect(str(project.state))
    try:
        if text is not None:
            con.execute("UPDATE migrations SET plan_json = ? WHERE id = ?",
                        (text, migration_id))
            con.commit()
        [(out,)] = con.execute("SELECT plan_json FROM migrations WHERE id = ?",
                               (migration_id,)).fetchall()
        return out
    finally:
        con.close()


def as_v0_11_0(plan_text, lines):
    """The plan as v0.11.0 recorded it: no step options; with lines, each
    option a '-- <option>' line at the top of the step's SQL instead."""
    plan = json.loads(plan_text)
    seen = 0
    for steps in plan["phases"].values():
        for step in steps:
            options = step.pop("options", [])
            seen += len(options)
            if lines:
                step["sql"] = "".join("-- %s\n" % o for o in options) + step["sql"]
    assert seen, plan   # the test needs a plan with options
    return json.dumps(plan)


@pytest.mark.both_dialects
def test_rebuild_allowed_by_a_plan_recorded_by_v0_11_0(mysql_project):
    """allow_rebuild is a step option (plan --json: "options"); plans that
    v0.11.0 recorded in existing state files said it with a
    '-- allow_rebuild' line at the top of the step's SQL, and a rollback
    of such a plan still falls back: without the line it is refused (the
    option is what allows it), with it the column goes."""
    p = mysql_project
    p.db.execute("CREATE TABLE packed (id int PRIMARY KEY, a int) "
                 "ENGINE=InnoDB ROW_FORMAT=COMPRESSED")
    before = schema_snapshot(p.db)
    p.write(COMPRESSED_FILE, COMPRESSED % "\n      allow_rebuild: true")
    [m] = p.json("plan", "1")["migrations"]
    for phase in ("expand", "rollback"):
        [step] = m["phases"][phase]
        assert step["options"] == ["allow_rebuild"], step
        assert "-- allow_" not in step["sql"], step
    p.ok("expand", "1")
    plan = recorded_plan(p, 1)
    recorded_plan(p, 1, as_v0_11_0(plan, lines=False))
    r = p.expect(1, "rollback", "1")
    assert "allow_rebuild: true" in r.err, r.describe()
    recorded_plan(p, 1, as_v0_11_0(plan, lines=True))
    [m] = p.json("plan", "1")["migrations"]
    assert m["phases"]["rollback"][0]["sql"].startswith("-- allow_rebuild\n"), m
    r = p.ok("rollback", "1")
    assert "trying ALGORITHM=INPLACE, LOCK=NONE" in r.err, r.describe()
    assert schema_snapshot(p.db) == before


def test_mysql_before_8_0_29_is_refused(mysql_project):
    p = mysql_project
    setup_every_op(p)
    before = schema_snapshot(p.db)
    for args in (("plan", "1"), ("expand", "1")):
        r = p.expect(2, *args, env={"MIGRATE_TEST_MYSQL_DIALECT": "80028"})
        assert "MySQL 8.0.28 cannot run migrate's plans" in r.err, r.describe()
        assert "needs MySQL 8.0.29 or later" in r.err, r.describe()
    assert schema_snapshot(p.db) == before
    r = p.ok("plan", "1", env={"MIGRATE_TEST_MYSQL_DIALECT": "80029"})
    assert not mariadb_only_forms(r.out), r.out
