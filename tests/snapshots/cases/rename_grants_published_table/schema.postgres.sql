RESET ROLE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mg_snap_reader') THEN
    CREATE ROLE mg_snap_reader;
  END IF;
END $$;
SET ROLE app;
CREATE TABLE users (id bigint PRIMARY KEY, user_name text NOT NULL, email text);
GRANT SELECT (id, user_name) ON users TO mg_snap_reader;
GRANT UPDATE (user_name) ON users TO mg_snap_reader WITH GRANT OPTION;
RESET ROLE;
CREATE PUBLICATION pub_users FOR TABLE users;
