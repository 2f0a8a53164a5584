"""The attribute operations end to end, on every target (issue 13):
drop_not_null, set_default, drop_default, set_comment, set_replica_identity
(PostgreSQL; MariaDB refuses it at plan time), drop_constraint and
rename_constraint.

For each case:
- lifecycle: expand, backfill, switch-reads, contract, with the old
  version's writes (rows as before the change) and, from the end of
  expand, the new version's (rows relying on the change) after every
  phase: none fails; after contract the case's expectation holds;
- rollback from every phase before contract restores the exact schema
  (PostgreSQL: columns with NOT NULL, defaults and comments, constraints
  with their definitions, the table's comment and replica identity;
  MariaDB: SHOW CREATE TABLE), with the new version's rows still there;
- a kill right after each step of expand (MIGRATE_FAULT), then expand
  again, reaches the schema of an expand that never stopped.
"""

import textwrap

import pytest

from mysql_scenarios import schema_snapshot

PG_SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL,
  CONSTRAINT customers_email_key UNIQUE (email));
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL,
  customer_email text, status text NOT NULL DEFAULT 'new', total integer NOT NULL,
  note text, CONSTRAINT orders_total_check CHECK (total >= 0),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT orders_email_fk FOREIGN KEY (customer_email) REFERENCES customers (email));
CREATE UNIQUE INDEX orders_id_total ON orders (id, total);
COMMENT ON COLUMN orders.note IS 'free text';
INSERT INTO customers SELECT g, 'c' || g || '@x' FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, 1 + g % 20, 'c' || (1 + g % 20) || '@x', 'new', g, NULL
  FROM generate_series(1, 200) g;
"""

MY_SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY, email varchar(200) NOT NULL,
  CONSTRAINT customers_email_key UNIQUE (email)) ENGINE=InnoDB;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL,
  customer_email varchar(200), status varchar(20) NOT NULL DEFAULT 'new',
  total int NOT NULL, note text COMMENT 'free text',
  CONSTRAINT orders_total_check CHECK (total >= 0),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT orders_email_fk FOREIGN KEY (customer_email) REFERENCES customers (email)
) ENGINE=InnoDB;
INSERT INTO customers SELECT seq, CONCAT('c', seq, '@x') FROM seq_1_to_20;
INSERT INTO orders SELECT seq, 1 + seq % 20, CONCAT('c', 1 + seq % 20, '@x'), 'new', seq, NULL
  FROM seq_1_to_200;
"""

OLD_INSERT = ("INSERT INTO orders (id, customer_id, customer_email, status, total)"
              " VALUES ({n}, 1, 'c1@x', 'old', 5)")

# case -> (migration body, new version's insert, {kind: expectation after contract})
CASES = {
    "drop_not_null": (
        """
        operations:
          - drop_not_null:
              table: orders
              column: total
              down: '0'
              allow_rebuild: true
        """,
        "INSERT INTO orders (id, customer_id, status, total) VALUES ({n}, 1, 'new', NULL)",
        "SELECT count(*) > 0 FROM orders WHERE total IS NULL"),
    "set_default": (
        """
        operations:
          - set_default:
              table: orders
              column: total
              default: '7'
        """,
        "INSERT INTO orders (id, customer_id, status) VALUES ({n}, 1, 'new')",
        "SELECT count(*) > 0 FROM orders WHERE total = 7"),
    "drop_default": (
        """
        operations:
          - drop_default:
              table: orders
              column: status
        """,
        "INSERT INTO orders (id, customer_id, status, total) VALUES ({n}, 1, 'green', 1)",
        "SELECT count(*) > 0 FROM orders WHERE status = 'green'"),
    "set_comment": (
        """
        operations:
          - set_comment:
              table: orders
              comment: One row per order
          - set_comment:
              table: orders
              column: note
              comment: What the customer wrote
        """,
        OLD_INSERT,
        None),
    "drop_constraint": (
        """
        operations:
          - drop_constraint:
              table: orders
              name: orders_total_check
          - drop_constraint:
              table: customers
              name: customers_email_key
              drops: [orders_email_fk]
        """,
        "INSERT INTO orders (id, customer_id, status, total) VALUES ({n}, 1, 'new', 3)",
        "SELECT count(*) = 0 FROM information_schema.table_constraints"
        " WHERE constraint_name IN ('orders_total_check', 'customers_email_key',"
        " 'orders_email_fk')"),
    "rename_constraint": (
        """
        operations:
          - rename_constraint:
              table: customers
              from: customers_email_key
              to: customers_email_unique
          - rename_constraint:
              table: orders
              from: orders_customer_fk
              to: orders_customer_id_fkey
        """,
        OLD_INSERT,
        "SELECT count(*) = 2 FROM information_schema.table_constraints"
        " WHERE constraint_name IN ('customers_email_unique', 'orders_customer_id_fkey')"),
    "set_replica_identity": (
        """
        operations:
          - set_replica_identity:
              table: orders
              identity: index
              index: orders_id_total
        """,
        OLD_INSERT,
        "SELECT relreplident = 'i' FROM pg_class WHERE relname = 'orders'"),
}

PHASES = ("expand", "backfill", "switch-reads", "contract")


def pg_snapshot(db):
    """What the attribute operations change, as PostgreSQL's catalog has it."""
    return {
        "columns": db.query(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),"
            " a.attnotnull, pg_get_expr(d.adbin, d.adrelid),"
            " col_description(a.attrelid, a.attnum)"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE c.relname IN ('orders', 'customers') AND a.attnum > 0"
            " AND NOT a.attisdropped ORDER BY 1, a.attnum"),
        "constraints": db.query(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated"
            " FROM pg_constraint WHERE conrelid IN ('orders'::regclass, 'customers'::regclass)"
            " ORDER BY 1, 2"),
        "indexes": db.query(
            "SELECT indexrelid::regclass::text, indisreplident FROM pg_index"
            " WHERE indrelid IN ('orders'::regclass, 'customers'::regclass) ORDER BY 1"),
        "tables": db.query(
            "SELECT relname, relreplident, obj_description(oid, 'pg_class') FROM pg_class"
            " WHERE relname IN ('orders', 'customers') ORDER BY 1"),
    }


def sorted_keys(ddl):
    """SHOW CREATE TABLE with its KEY lines in name order: MariaDB drops
    and re-creates a foreign key's own index when the key is renamed (it
    is named after the key), so after a rename and back the index is the
    same but listed last (documented in docs/file-format.md, rename_constraint)."""
    lines = ddl.split("\n")
    keys = sorted(l.rstrip(",") for l in lines if l.startswith("  KEY "))
    rest = [l for l in lines if not l.startswith("  KEY ")]
    return rest, keys


def snapshot(target):
    if target.is_pg:
        return pg_snapshot(target.db)
    snap = schema_snapshot(target.db)
    return {k: sorted_keys(v) if k.startswith("table ") else v
            for k, v in snap.items()}


def make_case(target, case):
    if target.is_pg:
        target.db.execute(PG_SCHEMA)
    else:
        for stmt in MY_SCHEMA.split(";\n"):
            if stmt.strip():
                target.db.execute(stmt)
    body = textwrap.dedent(CASES[case][0]).lstrip("\n")
    if target.is_pg:
        body = body.replace("allow_rebuild: true", "allow_copy: false")
    target.project.write("0001_attrs.yaml", "description: attrs\n" + body)


class Counter:
    n = 1000

    def next(self):
        Counter.n += 1
        return Counter.n


def write(target, sql):
    target.db.execute(sql.replace("{n}", str(Counter().next())))


def skip_refused(target, case):
    if case == "set_replica_identity" and not target.is_pg:
        r = target.project.expect(1, "plan")
        assert "has no replica identity" in r.err
        assert "binlog_row_image" in r.err
        return True
    return False


@pytest.mark.both_dialects
@pytest.mark.parametrize("case", sorted(CASES))
def test_attr_op_lifecycle(target, case):
    make_case(target, case)
    if skip_refused(target, case):
        return
    target.project.ok("plan")
    new_sql = CASES[case][1]
    for i, phase in enumerate(PHASES):
        target.project.ok(phase, "1")
        if phase != "contract":
            write(target, OLD_INSERT)
        write(target, new_sql)
    expect = CASES[case][2]
    if expect:
        assert target.db.query(expect)[0][0] in (True, 1), expect


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("upto", PHASES[:-1])
def test_attr_op_rollback_restores_schema(target, case, upto):
    make_case(target, case)
    if skip_refused(target, case):
        return
    before = snapshot(target)
    for phase in PHASES[:PHASES.index(upto) + 1]:
        target.project.ok(phase, "1")
        write(target, OLD_INSERT)
    if case not in ("drop_constraint",):
        write(target, CASES[case][1])
    target.project.ok("rollback", "1")
    after = snapshot(target)
    for k in before:
        assert after.get(k) == before[k], "%s:\n%s\n---\n%s" % (k, before[k], after.get(k))
    write(target, OLD_INSERT)


@pytest.mark.parametrize("case", sorted(CASES))
def test_attr_op_rerun_after_kill(target, case):
    make_case(target, case)
    if skip_refused(target, case):
        return
    target.project.ok("expand", "1")
    done = snapshot(target)
    target.project.ok("rollback", "1")
    n = len(target.project.json("plan")["migrations"][0]["phases"]["expand"])
    for k in range(1, n + 1):
        r = target.project.run("expand", "1", fault="expand:%d" % k)
        assert r.rc != 0, r.text
        target.project.ok("expand", "1")
        assert snapshot(target) == done
        target.project.ok("rollback", "1")
