-- Base schema of the example project: what the application (version 0,
-- "blue") runs against before any migration. Loaded once by scripts/demo.sh.
-- Plain SQL: load it with psql -v ON_ERROR_STOP=1 -f schema.sql.

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    user_name   text NOT NULL,
    email       text,
    age         integer,
    legacy_flag boolean NOT NULL DEFAULT false
);

-- An index on the column migration 0001 renames: expand builds a copy of it
-- on the new column (concurrently), contract gives the copy this name back.
CREATE INDEX users_user_name_idx ON users (user_name);

CREATE TABLE orders (
    id      bigserial PRIMARY KEY,
    user_id bigint REFERENCES users (id),
    total   numeric NOT NULL
);

-- A few thousand rows, deterministic, so that every backfill has real work.
INSERT INTO users (user_name, email, age, legacy_flag)
SELECT 'user_' || g,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'user_' || g || '@example.com' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE 18 + g % 60 END,
       g % 5 = 0
FROM generate_series(1, 3000) AS g;

INSERT INTO orders (user_id, total)
SELECT 1 + (g * 7919) % 3000,
       round(((g * 104729) % 200000) / 100.0, 2)
FROM generate_series(1, 6000) AS g;

ANALYZE users;
ANALYZE orders;
