-- The backfill fires a user trigger and is replicated through a publication:
-- plan should note both (tests/unit/test_pgplan.c, as a superuser, sees them).
-- v0.11.0 notes neither here: as the table owner (app) its notes query fails
-- on pg_publication_tables ("permission denied for schema pg_toast") and the
-- error was ignored. Fixed (drivers/postgres/catalog.c pgdrv_plan_notes):
-- the expected file shows both notes; tests/integration/test_plan_notes_pg.py.
CREATE TABLE orders (id bigint PRIMARY KEY, total integer NOT NULL);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER "Touch Orders" BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
RESET ROLE;
CREATE PUBLICATION pub_orders FOR TABLE orders;
