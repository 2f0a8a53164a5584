"""The gaps docs/deviations.md once listed as "found, not decided" (entries
4-9 and 14 of issue 16's list), each now fixed or a decided behaviour,
proved on a real server (both databases where the behaviour exists on
both):

  4  drops: names a view in another schema (PostgreSQL) or database
     (MariaDB) as schema.view; without it expand refuses, with it contract
     drops that view;
  5  nullable: false holds from expand on for the new version's writes
     only: the old version's writes (and any session not marked as the
     new version) get the column filled by the trigger;
  6  plan without an ID shows a pending migration that needs an earlier
     pending one as "planned after" it (exit 0), instead of failing;
  7  rollback without an ID rolls back an interrupted expand;
  8  the history table needs CREATE on its schema only when it is created;
     a permission error names the missing grant;
  9  step labels and messages: no "expand t:, ..." label, contract's
     re-checks name their column and table, the lock holder without
     pg_read_all_stats, expand's message without colour names;
  14 check's hint for an edited contracted migration.
"""

import json

import psycopg
import pytest

from harness.project import RENAME_FILE, RENAME_YAML, columns_of, seed_users


def seed(target):
    """users (id, user_name, email) with five rows, on either database."""
    if target.is_pg:
        seed_users(target.db)
        return
    target.execute("CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                   "user_name VARCHAR(100) NOT NULL, email VARCHAR(200))")
    for name in ("alice", "bob", "carol", "dave", "eve"):
        target.execute("INSERT INTO users (user_name) VALUES (%s)", (name,))


def run_to_contract(p, mid="1"):
    for cmd in ("expand", "backfill", "switch-reads", "contract"):
        p.ok(cmd, mid)


RENAME_DROPS = """
operations:
  - rename_column:
      table: users
      from: user_name
      to: username
      drops: [%s]
"""


# ---- 4: drops: finds views in any schema ---------------------------------

@pytest.mark.targets("postgres")
def test_drops_view_in_another_schema_pg(target):
    seed(target)
    p = target.project
    target.execute("CREATE SCHEMA reporting")
    target.execute("CREATE VIEW reporting.v AS SELECT id, user_name FROM public.users")
    p.write("0001_rename.yaml", RENAME_DROPS % "v")
    r = p.expect(1, "expand", "1")
    assert "view reporting.v depends on column 'user_name'" in r.err, r.describe()
    assert "username" not in columns_of(target.db, "users")
    p.write("0001_rename.yaml", RENAME_DROPS % "reporting.v")
    contract = "\n".join(s["sql"] for s in
                         p.json("plan", "1")["migrations"][0]["phases"]["contract"])
    assert 'DROP VIEW IF EXISTS reporting.v;' in contract, contract
    run_to_contract(p)
    assert target.query("SELECT to_regclass('reporting.v')") == [(None,)]
    assert columns_of(target.db, "users") == ["id", "email", "username"]


@pytest.mark.targets("mariadb")
def test_drops_view_in_another_database_mariadb(target):
    seed(target)
    p = target.project
    other = target.server.new_database("reporting")
    try:
        with other.admin() as c, c.cursor() as cur:
            cur.execute(f"CREATE VIEW v AS SELECT id, user_name FROM `{target.db.name}`.users")
        p.write("0001_rename.yaml", RENAME_DROPS % "v")
        r = p.expect(1, "expand", "1")
        assert f"view `{other.name}`.`v` depends on column 'user_name'" in r.err, r.describe()
        p.write("0001_rename.yaml", RENAME_DROPS % f"{other.name}.v")
        run_to_contract(p)
        with other.admin() as c, c.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.VIEWS "
                        "WHERE TABLE_SCHEMA = %s", (other.name,))
            assert cur.fetchone()[0] == 0
    finally:
        other.drop()


# ---- 5: nullable: false from expand on -----------------------------------

NOT_NULL_ADD = """
operations:
  - add_column:
      table: users
      column: nickname
      type: %s
      nullable: false
      backfill: user_name
"""


def test_nullable_false_binds_only_the_new_version(target):
    seed(target)
    p = target.project
    p.write("0001_nick.yaml", NOT_NULL_ADD % ("text" if target.is_pg else "VARCHAR(100)"))
    p.ok("expand", "1")
    # the old version does not know the column; a NULL from an unmarked
    # session is taken as the old version's and filled by the trigger
    target.execute("INSERT INTO users (user_name) VALUES ('old')")
    target.execute("INSERT INTO users (user_name, nickname) VALUES ('unmarked', NULL)")
    assert target.query("SELECT user_name, nickname FROM users WHERE user_name "
                        "IN ('old', 'unmarked') ORDER BY id") == [
        ("old", "old"), ("unmarked", "unmarked")]
    # a session marked as the new version that writes NULL breaks the
    # new version's own NOT NULL: refused now, not at switch-reads
    conn = target.db.connect(application_name="green")
    if target.is_pg:
        conn.execute("SET migrate.writer = 'new'")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users (user_name, nickname) VALUES ('green', NULL)")
    else:
        with conn.cursor() as cur:
            cur.execute("SET @migrate_writer = 'new'")
            with pytest.raises(Exception) as e:
                cur.execute("INSERT INTO users (user_name, nickname) VALUES ('green', NULL)")
            assert "nickname" in str(e.value), e.value
    assert target.query("SELECT count(*) FROM users WHERE user_name = 'green'") == [(0,)]
    run_to_contract(p)


# ---- 6: plan of pending migrations that build on each other ---------------

ADD_NICK = """
operations:
  - add_column:
      table: users
      column: nickname
      type: %s
"""
INDEX_NICK = """
operations:
  - create_index:
      table: users
      name: users_nickname_idx
      columns: [nickname]
"""


def test_plan_shows_later_migration_as_planned_after(target):
    seed(target)
    p = target.project
    p.write("0001_nick.yaml", ADD_NICK % ("text" if target.is_pg else "VARCHAR(100)"))
    p.write("0002_idx.yaml", INDEX_NICK)
    text = p.ok("plan").out
    assert "== 0001_nick (pending) ==" in text
    assert "-- planned after 0001 expands" in text, text
    assert "'migrate expand 0002' plans it then" in text
    assert "nickname" in text.split("== 0002_idx")[1]     # the reason, kept
    doc = p.json("plan")["migrations"]
    assert [m["id"] for m in doc] == [1, 2]
    assert doc[1]["planned_after"] == 1 and doc[1]["not_planned"]
    assert "phases" in doc[0] and "planned_after" not in doc[0]
    # asked for by id, the plan is what expand would make now: refused
    p.expect(2, "plan", "2")
    # an error the earlier migration cannot explain still fails
    p.write("0003_other.yaml", INDEX_NICK.replace("users", "no_such_table"))
    p.expect(2, "plan")
    (p.migrations / "0003_other.yaml").unlink()
    p.ok("expand", "1")
    doc = p.json("plan")["migrations"]
    assert doc[1]["phases"]["expand"] and "planned_after" not in doc[1]


# ---- 7: rollback without an ID after an interrupted expand ----------------

def test_rollback_without_id_undoes_interrupted_expand(target):
    seed(target)
    p = target.project
    p.write(RENAME_FILE, RENAME_YAML)
    target.execute("CREATE INDEX users_user_name_idx ON users (user_name)")
    r = p.run("expand", fault="expand:1")
    assert r.rc in (-9, 137), r.describe()
    assert "username" in columns_of_any(target)
    r = p.ok("rollback")
    assert "rolled back to pending" in r.err + r.out, r.describe()
    assert "username" not in columns_of_any(target)
    assert p.phases() == {1: "pending"}
    assert "nothing to do" in (lambda r: r.err + r.out)(p.ok("rollback"))


def columns_of_any(target):
    if target.is_pg:
        return columns_of(target.db, "users")
    return [r[0] for r in target.query(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
        "DATABASE() AND TABLE_NAME = 'users' ORDER BY ORDINAL_POSITION")]


# ---- 8: CREATE on the history table's schema only to create it ------------

@pytest.mark.targets("postgres")
def test_history_table_needs_create_only_once_pg(target):
    seed(target)
    p = target.project
    p.write(RENAME_FILE, RENAME_YAML)
    p.ok("expand", "1")
    with target.db.admin() as a:
        a.execute("ALTER SCHEMA public OWNER TO postgres")
        a.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC, app")
        a.execute("GRANT USAGE ON SCHEMA public TO app")
    for cmd in ("backfill", "switch-reads", "contract"):
        p.ok(cmd, "1")
    assert p.phases() == {1: "contracted"}
    # a new trigger function needs CREATE on the table's schema: the hint
    # names that grant, not ownership
    p.write("0002_nick.yaml", (NOT_NULL_ADD % "text").replace("user_name", "username"))
    r = p.expect(3, "expand", "2")
    assert "permission denied for schema public" in r.err, r.describe()
    assert "hint: the role needs CREATE on schema public: GRANT CREATE ON SCHEMA public" in r.err


# ---- 9: labels and messages ---------------------------------------------

DROP_DOWN = """
operations:
  - drop_column:
      table: users
      column: email
      down: "'unknown'"
"""


def test_step_labels_and_phase_messages(target):
    seed(target)
    p = target.project
    p.write("0001_drop.yaml", DROP_DOWN)
    plan = p.json("plan", "1")["migrations"][0]["phases"]
    labels = [s["description"] for ph in plan.values() for s in ph]
    assert not [d for d in labels if ":," in d], labels
    assert any(d.startswith("expand ") and d.endswith(": dual-write trigger")
               or ": dual-write trigger" in d for d in labels), labels
    checks = [d for d in labels if d.startswith("nothing new depends")]
    assert checks and all("column 'email' of " in d and "users" in d for d in checks), checks
    r = p.ok("expand", "1")
    out = r.out + r.err
    assert "the old version keeps working on the old columns" in out
    assert "blue" not in out and "green" not in out


@pytest.mark.targets("postgres")
def test_lock_holder_without_pg_read_all_stats(target):
    seed(target)
    p = target.project
    p.write(RENAME_FILE, RENAME_YAML)
    with target.db.admin() as a:
        a.execute("DROP ROLE IF EXISTS gaps_other")
        a.execute("CREATE ROLE gaps_other LOGIN PASSWORD 'gaps-secret-1'")
    srv = target.db.server
    other = psycopg.connect(host=srv.host, port=srv.port, user="gaps_other",
                            password="gaps-secret-1", dbname=target.db.name,
                            autocommit=True, application_name="migrate/backfill")
    try:
        other.execute("SELECT pg_advisory_lock(hashtextextended('migrate', 0))")
        r = p.expect(3, "expand", "1")
        assert "user 'gaps_other', client and start unknown (seeing them needs pg_read_all_stats)" in r.err, r.describe()
        assert "local socket" not in r.err and "connected since" not in r.err
    finally:
        other.close()
        with target.db.admin() as a:
            a.execute("DROP ROLE gaps_other")


# ---- 14: check's hint for an edited contracted migration ------------------

def test_check_hint_for_edited_contracted_migration(target):
    seed(target)
    p = target.project
    p.write(RENAME_FILE, RENAME_YAML)
    run_to_contract(p)
    p.write(RENAME_FILE, RENAME_YAML + "# edited\n")
    r = p.run("check")
    assert r.rc == 1, r.describe()
    assert "restore the file (it is contracted: it cannot be rolled back)" in r.out, r.describe()
    assert "roll it back" not in r.out
    doc = json.loads(p.run("check", "--json").out)
    assert "it cannot be rolled back" in json.dumps(doc)
