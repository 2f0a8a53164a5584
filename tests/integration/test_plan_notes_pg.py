"""PostgreSQL plan notes read as the table owner (`app`, not a superuser).

With a publication in the database (created by the superuser), `plan`
notes both that the backfill fires the table's user trigger and that the
table is replicated through the publication. v0.11.0 noted neither: its
one notes query ran to_regclass() over every row of pg_publication_tables,
which fails for the owner with "permission denied for schema pg_toast",
and the error was dropped.
"""

MIGRATION = """
description: Orders get a priority
operations:
  - add_column:
      table: orders
      column: priority
      type: smallint
      default: "0"
      nullable: false
      backfill: "CASE WHEN total > 1000 THEN 1 ELSE 0 END"
"""


def make_orders(db, publication_sql):
    db.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total integer NOT NULL)")
    db.execute("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql "
               "AS $$ BEGIN RETURN NEW; END $$")
    db.execute('CREATE TRIGGER "Touch Orders" BEFORE UPDATE ON orders '
               "FOR EACH ROW EXECUTE FUNCTION touch()")
    admin = db.admin()
    try:
        admin.execute(publication_sql)
    finally:
        admin.close()


def plan_notes(project):
    project.write("0001_priority.yaml", MIGRATION)
    return project.json("plan")["migrations"][0]["notes"]


def test_owner_sees_trigger_and_publication_notes(db, project):
    make_orders(db, "CREATE PUBLICATION pub_orders FOR TABLE orders")
    notes = plan_notes(project)
    assert notes == [
        "the backfill of \"public\".\"orders\" fires user trigger \"Touch Orders\"",
        "the backfill of \"public\".\"orders\" is replicated through publication pub_orders",
    ]


def test_owner_sees_notes_with_a_publication_for_all_tables(db, project):
    """FOR ALL TABLES lists tables in schemas the owner cannot use."""
    make_orders(db, "CREATE PUBLICATION pub_all FOR ALL TABLES")
    notes = plan_notes(project)
    assert "the backfill of \"public\".\"orders\" fires user trigger \"Touch Orders\"" in notes
    assert "the backfill of \"public\".\"orders\" is replicated through publication pub_all" in notes
