"""Backfill details: composite and non-integer keys, rows written by the new
version are never overwritten, tables without a usable key are refused, and
switch-reads refuses inconsistent rows and invalid copied indexes."""

import re

from conftest import columns_of

RENAME = """
operations:
  - rename_column:
      table: {table}
      from: label
      to: title
"""


def test_composite_text_key(project):
    p = project
    p.db.execute("""
        CREATE TABLE items (region text, n integer, label text NOT NULL,
                            PRIMARY KEY (region, n));
        INSERT INTO items SELECT r, g, r || '-' || g
          FROM unnest(ARRAY['eu', 'us', 'ap', 'EU''s']) r, generate_series(1, 120) g;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="items"))
    p.ok("expand")
    p.ok("backfill", "--batch-size", "7")
    assert p.db.query("SELECT count(*) FROM items WHERE title IS DISTINCT FROM label") == [(0,)]
    assert p.db.query("SELECT count(*) FROM items WHERE _migrate_1 = 0") == [(0,)]
    st = p.json("status")["migrations"][0]["backfill"]
    assert st["rows_done"] == 480 and st["done"] is True
    p.ok("switch-reads")
    p.ok("contract")
    assert p.db.query("SELECT count(*) FROM items") == [(480,)]


def test_uuid_key_and_unique_not_null_fallback(project):
    p = project
    p.db.execute("""
        CREATE TABLE docs (code uuid NOT NULL UNIQUE, label text);
        INSERT INTO docs SELECT md5(g::text)::uuid, 'doc ' || g FROM generate_series(1, 300) g;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="docs"))
    p.ok("expand")
    p.ok("backfill", "--batch-size", "13")
    p.ok("switch-reads")
    assert p.db.query("SELECT count(*) FROM docs WHERE title IS DISTINCT FROM label") == [(0,)]


def test_table_without_key_is_refused(project):
    p = project
    p.db.execute("CREATE TABLE logs (label text); INSERT INTO logs VALUES ('a')")
    p.write("0001_rename_label.yaml", RENAME.format(table="logs"))
    before = p.db.snapshot()
    r = p.expect(1, "expand")
    assert "primary key" in r.err and "logs" in r.err, r.err
    assert re.search(r"0001_rename_label\.yaml:\d+:\d+", r.err), r.err
    assert p.db.snapshot() == before


def test_new_version_writes_are_never_overwritten(project):
    p = project
    p.db.execute("""
        CREATE TABLE items (id bigint PRIMARY KEY, label text);
        INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 200) g;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="items"))
    p.ok("expand")
    # green writes the new column of old rows before the backfill reaches them
    p.db.execute("UPDATE items SET title = 'green ' || id WHERE id % 10 = 0")
    p.ok("backfill", "--batch-size", "9")
    rows = p.db.query("SELECT id, label, title, _migrate_1 FROM items WHERE id % 10 = 0")
    assert len(rows) == 20
    for rid, label, title, marker in rows:
        assert title == "green %d" % rid and label == title and marker == 2, (rid, label, title)
    p.ok("switch-reads")


def test_switch_reads_refuses_disagreeing_rows(project):
    p = project
    p.db.execute("""
        CREATE TABLE items (id bigint PRIMARY KEY, label text);
        INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 50) g;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="items"))
    p.ok("expand")
    p.ok("backfill")
    # a write that bypasses the triggers (as the backfill's own session does)
    with p.db.connect() as c:
        c.execute("SET migrate.backfill = '1'")
        c.execute("UPDATE items SET title = 'broken' WHERE id IN (7, 9)")
    r = p.expect(1, "switch-reads")
    assert "2 row(s) disagree" in r.err and "(7)" in r.err and "(9)" in r.err, r.err
    assert p.phases() == {1: "backfilled"}
    p.db.execute("UPDATE items SET title = label WHERE id IN (7, 9)")
    p.ok("switch-reads")


def test_switch_reads_refuses_invalid_copied_index(project):
    p = project
    p.db.execute("""
        CREATE TABLE items (id bigint PRIMARY KEY, label text);
        CREATE INDEX items_label_idx ON items (label);
        INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 50) g;
    """)
    p.write("0001_rename_label.yaml", RENAME.format(table="items"))
    p.ok("expand")
    copies = p.db.query("""SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                           WHERE i.indrelid = 'items'::regclass AND a.attname = 'title'""")
    assert len(copies) == 1, copies
    p.ok("backfill")
    with p.db.admin() as c:
        c.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                  (copies[0][0],))
    r = p.expect(1, "switch-reads")
    assert copies[0][0] in r.err and "invalid" in r.err, r.err
    with p.db.admin() as c:
        c.execute("UPDATE pg_index SET indisvalid = true WHERE indexrelid = %s::regclass",
                  (copies[0][0],))
    p.ok("switch-reads")
    p.ok("contract")
    idx = p.db.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'items' "
                     "AND indexname = 'items_label_idx'")
    assert idx and "(title)" in idx[0][1], idx
    assert "label" not in columns_of(p.db, "items")
