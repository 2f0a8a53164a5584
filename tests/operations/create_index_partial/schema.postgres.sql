CREATE TABLE members (id bigserial PRIMARY KEY, email text NOT NULL, deleted_at timestamptz);
INSERT INTO members (email, deleted_at) SELECT 'seed-' || g || '@example.com', CASE WHEN g % 4 = 0 THEN now() END FROM generate_series(1, 200) g;
