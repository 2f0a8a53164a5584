"""The backfill on MariaDB (label "mysql") with keys other than one integer:
a composite (varchar, bigint) primary key whose order is unrelated to the
insertion order, and a varchar primary key whose collation sorts otherwise
than its bytes. For each: --jobs 3 splits the key range into parts that
together cover every row once (a logging trigger counts each row's
updates), a kill -9 mid-run resumes with another --jobs, --verify finds no
mismatch, and after a row is spoilt by hand --verify names its key.
"""

import json

from conftest import Watch

KILLED = (-9, 137)
MARKER = "_migrate_1"
MIGRATION = """
description: Rename items.label to items.title
operations:
  - rename_column:
      table: items
      from: label
      to: title
"""

TABLES = {
    # region first: the key's order is not the insertion order
    "composite": ("CREATE TABLE items (region varchar(8) NOT NULL, id bigint NOT NULL,"
                  " label varchar(100) NOT NULL, PRIMARY KEY (region, id))",
                  "INSERT INTO items (region, id, label) SELECT"
                  " SUBSTR(MD5(seq), 1, 3), seq, CONCAT('item-', seq) FROM seq_1_to_{n}",
                  "CONCAT(region, '/', id)"),
    # utf8mb4_unicode_ci: 'a' < 'B' < 'c', unlike their bytes; mixed case
    "varchar": ("CREATE TABLE items (code varchar(40) NOT NULL PRIMARY KEY,"
                " label varchar(100) NOT NULL)",
                "INSERT INTO items (code, label) SELECT"
                " CONCAT(IF(seq % 2, 'k', 'K'), LPAD(seq * 7919 % 100003, 6, '0')),"
                " CONCAT('item-', seq) FROM seq_1_to_{n}",
                "code"),
}
ROWS = 3000


def seed_items(db, kind):
    create, fill, _ = TABLES[kind]
    db.execute(create)
    db.execute(fill.format(n=ROWS))
    db.execute("CREATE TABLE touch_log (k varchar(60) NOT NULL)")
    key = TABLES[kind][2].replace("region", "NEW.region").replace("id)", "NEW.id)") \
        .replace("code", "NEW.code")
    db.execute("CREATE TRIGGER items_touch AFTER UPDATE ON items FOR EACH ROW"
               f" INSERT INTO touch_log (k) VALUES ({key})")


def assert_each_row_once_and_copied(db):
    twice = db.query("SELECT k, COUNT(*) FROM touch_log GROUP BY k HAVING COUNT(*) > 1 LIMIT 5")
    assert twice == [], f"rows updated more than once: {twice}"
    assert db.query("SELECT COUNT(DISTINCT k) FROM touch_log")[0][0] == ROWS
    bad = db.query(f"SELECT COUNT(*) FROM items WHERE `{MARKER}` = 0 OR NOT (title <=> label)")
    assert bad[0][0] == 0, bad


def verify(p):
    r = p.run("--json", "backfill", "1", "--verify")
    return r.rc, json.loads(r.out)


def run_keyed(p, kind):
    db = p.db
    seed_items(db, kind)
    p.write("0001_rename.yaml", MIGRATION)
    p.ok("expand", "1")
    w = Watch(p.popen("--json", "backfill", "1", "--jobs", "3", "--batch-size", "50",
                      "--sleep", "30"))
    assert w.kill_after_progress() in KILLED, w.err
    done = db.query(f"SELECT SUM(`{MARKER}` <> 0) FROM items")[0][0]
    assert 0 < int(done) < ROWS, done
    [m] = p.json("status")["migrations"]
    parts = m["backfill"]["checkpoints"]
    assert len(parts) == 3, parts       # split in three, each with a checkpoint
    p.ok("backfill", "1", "--jobs", "2", "--batch-size", "70")
    assert_each_row_once_and_copied(db)
    rc, doc = verify(p)
    assert rc == 0 and doc["mismatches"] == 0, doc
    # a row spoilt by hand (with the triggers bypassed: a direct UPDATE of
    # the new column only is what a broken backfill would leave)
    key_sql = TABLES[kind][2]
    [(spoilt,)] = db.query(f"SELECT {key_sql} FROM items ORDER BY {key_sql} LIMIT 1 OFFSET 1234")
    db.execute("SET @migrate_backfill = 1")
    db.execute(f"UPDATE items SET title = 'spoilt' WHERE {key_sql} = %s", (spoilt,))
    db.execute("SET @migrate_backfill = NULL")
    rc, doc = verify(p)
    assert rc == 1 and doc["mismatches"] == 1, doc
    assert any(spoilt.split("/")[-1] in json.dumps(k) for k in doc["sample_keys"]), (spoilt, doc)
    p.expect(1, "switch-reads", "1")


def test_composite_key_jobs_kill_resume_verify(mysql_project):
    run_keyed(mysql_project, "composite")


def test_varchar_key_jobs_kill_resume_verify(mysql_project):
    run_keyed(mysql_project, "varchar")
