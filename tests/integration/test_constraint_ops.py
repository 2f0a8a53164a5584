"""The rules on existing columns (issue 13): set_not_null, add_check,
add_unique, add_foreign_key, on every target.

accounts(id, email, score, customer_id) starts with rows that break every
rule (NULL emails, duplicate emails, negative scores, customers that do
not exist). For each operation:

  test_rule_under_traffic   an old-version writer keeps inserting and
                            updating rows that break the rule through
                            expand, backfill and switch-reads with zero
                            errors; after switch-reads no row breaks it
                            and the catalog has it (valid), so the new
                            version may rely on it; contract leaves the
                            rule and nothing of migrate's
  test_rollback_from_every_phase
                            rollback after expand, backfill and
                            switch-reads restores the exact schema
  test_crash_then_rerun     a kill right after each step of expand and of
                            switch-reads, then the same command again,
                            reaches the state of a run without the kill

MariaDB: set_not_null needs allow_rebuild (MODIFY ... NOT NULL is an
online rebuild), add_check allow_copy (ALGORITHM=COPY): the migrations
say so, and the refusals without them are plan snapshots
(rules_set_not_null, rules_add_check_no_copy).
"""

import re
import threading
import time

import pytest

from writers import fetch

SEED = 200

OPS = {
    "set_not_null": """
operations:
  - set_not_null:
      table: accounts
      column: email
      up: "'unknown'"
      allow_rebuild: true
""",
    "add_check": """
operations:
  - add_check:
      table: accounts
      column: score
      name: accounts_score_positive
      check: "score >= 0"
      up: "0"
      allow_copy: true
""",
    "add_unique": """
operations:
  - add_unique:
      table: accounts
      columns: [email]
      name: accounts_email_key
      up: "NULL"
""",
    "add_foreign_key": """
operations:
  - add_foreign_key:
      table: accounts
      columns: [customer_id]
      name: accounts_customer_fk
      references:
        table: customers
        columns: [id]
      on_delete: set null
      up: "NULL"
""",
}

# rows that break the rule (0 once it holds), per database family
BROKEN = {
    "set_not_null": "SELECT count(*) FROM accounts WHERE email IS NULL",
    "add_check": "SELECT count(*) FROM accounts WHERE score < 0",
    "add_unique": "SELECT count(*) FROM (SELECT email FROM accounts WHERE email IS NOT NULL"
                  " GROUP BY email HAVING count(*) > 1) d",
    "add_foreign_key": "SELECT count(*) FROM accounts a WHERE customer_id IS NOT NULL"
                       " AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id)",
}


def make_schema(target):
    if target.is_pg:
        target.execute("CREATE TABLE customers (id bigint PRIMARY KEY)")
        target.execute("CREATE TABLE accounts (id bigserial PRIMARY KEY, email text,"
                       " score integer, customer_id bigint)")
    else:
        target.execute("CREATE TABLE customers (id bigint PRIMARY KEY) ENGINE=InnoDB")
        target.execute("CREATE TABLE accounts (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                       " email varchar(100), score int, customer_id bigint) ENGINE=InnoDB")
    target.execute("INSERT INTO customers (id) VALUES (1), (2), (3)")
    for i in range(1, SEED + 1):
        # every fourth email NULL, the others in pairs; every third score
        # negative; every fifth customer missing
        email = None if i % 4 == 0 else "user%d@example.com" % (i // 2)
        target.execute("INSERT INTO accounts (email, score, customer_id) VALUES (%s, %s, %s)",
                       (email, -i if i % 3 == 0 else i, 99 if i % 5 == 0 else i % 3 + 1))


def breaking_write(conn, i, rng_id):
    """One write of the old version that breaks every rule at once."""
    if i % 2:
        fetch(conn, "INSERT INTO accounts (email, score, customer_id) VALUES (%s, %s, %s)",
              (None if i % 4 == 1 else "user1@example.com", -i, 77))
    else:
        fetch(conn, "UPDATE accounts SET email = %s, score = %s, customer_id = %s WHERE id = %s",
              (None if i % 4 == 0 else "user2@example.com", -i, 55, rng_id))


class OldVersion:
    """A thread writing rows that break the rules, counting its errors."""

    def __init__(self, target):
        self.target = target
        self.errors = []
        self.writes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = self.target.db.connect(autocommit=True)
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                try:
                    breaking_write(conn, i, 1 + i % SEED)
                    self.writes += 1
                except Exception as e:  # every error fails the test
                    self.errors.append(repr(e))
                time.sleep(0.002)
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(30)
        assert not self.errors, "the old version's writes failed: %s" % self.errors[:3]
        assert self.writes > 0

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


def schema(target):
    """What rollback must restore: the tables' definitions."""
    if target.is_pg:
        return target.db.snapshot()
    # the AUTO_INCREMENT counter moves with the writer's inserts
    return {t: re.sub(r" AUTO_INCREMENT=\d+", "", target.query("SHOW CREATE TABLE %s" % t)[0][1])
            for t in ("accounts", "customers")} | {
        "triggers": target.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                                 " WHERE TRIGGER_SCHEMA = DATABASE()")}


def rule_in_catalog(target, op):
    """The rule is in the catalog (valid where the database says)."""
    if op == "set_not_null":
        q = ("SELECT is_nullable FROM information_schema.columns WHERE table_name = 'accounts'"
             " AND column_name = 'email'") if target.is_pg else \
            ("SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
             " AND TABLE_NAME = 'accounts' AND COLUMN_NAME = 'email'")
        return target.query(q)[0][0] == "NO"
    name = {"add_check": "accounts_score_positive", "add_unique": "accounts_email_key",
            "add_foreign_key": "accounts_customer_fk"}[op]
    if target.is_pg:
        rows = target.query("SELECT convalidated FROM pg_constraint WHERE conname = %s", (name,))
        return rows == [(True,)]
    return target.query("SELECT count(*) FROM information_schema.TABLE_CONSTRAINTS"
                        " WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = %s",
                        (name,))[0][0] == 1


def leftovers(target):
    """migrate's own objects on accounts: triggers, the marker."""
    if target.is_pg:
        trg = target.query("SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass"
                           " AND NOT tgisinternal")
        cols = target.query("SELECT column_name FROM information_schema.columns"
                            " WHERE table_name = 'accounts' AND column_name LIKE '\\_migrate%%'")
    else:
        trg = target.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                           " WHERE TRIGGER_SCHEMA = DATABASE()")
        cols = target.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS"
                            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'accounts'"
                            " AND COLUMN_NAME LIKE '\\_migrate%%'")
    return list(trg) + list(cols)


@pytest.mark.parametrize("op", sorted(OPS))
def test_rule_under_traffic(target, op):
    make_schema(target)
    p = target.project
    p.write("0001_rule.yaml", OPS[op])
    assert target.query(BROKEN[op])[0][0] > 0
    with OldVersion(target) as old:
        p.ok("expand", "1")
        time.sleep(0.3)
        p.ok("backfill", "1")
        time.sleep(0.3)
        p.ok("switch-reads", "1")
        time.sleep(0.3)
        # the new version relies on the rule from here on
        assert target.query(BROKEN[op])[0][0] == 0
        assert rule_in_catalog(target, op)
        old.finish()
    p.ok("contract", "1")
    assert target.query(BROKEN[op])[0][0] == 0
    assert rule_in_catalog(target, op)
    assert leftovers(target) == []


@pytest.mark.parametrize("op", sorted(OPS))
def test_rollback_from_every_phase(target, op):
    make_schema(target)
    p = target.project
    p.write("0001_rule.yaml", OPS[op])
    before = schema(target)
    for phases in (["expand"], ["expand", "backfill"],
                   ["expand", "backfill", "switch-reads"]):
        with OldVersion(target) as old:
            for ph in phases:
                p.ok(ph, "1")
            p.ok("rollback", "1")
            old.finish()
        assert schema(target) == before, "rollback after %s" % phases[-1]


def steps_of(project, phase):
    plan = project.json("plan", "1")
    return len(plan["migrations"][0]["phases"].get(phase, []))


@pytest.mark.parametrize("op", sorted(OPS))
def test_crash_then_rerun(target, op):
    make_schema(target)
    p = target.project
    p.write("0001_rule.yaml", OPS[op])
    n_expand = steps_of(p, "expand")
    n_switch = steps_of(p, "switch-reads")
    r = p.run("expand", "1", fault="expand:%d" % n_expand)
    assert r.rc != 0, r.text
    p.ok("expand", "1")
    p.ok("backfill", "1")
    for k in range(1, n_switch + 1):
        r = p.run("switch-reads", "1", fault="switch-reads:%d" % k)
        if "MIGRATE_FAULT" not in r.text:   # the step was done before
            break
    p.ok("switch-reads", "1")
    assert target.query(BROKEN[op])[0][0] == 0
    assert rule_in_catalog(target, op)
    p.ok("contract", "1")
    assert leftovers(target) == []
