CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);
INSERT INTO users (name) SELECT 'seed-' || g FROM generate_series(1, 200) g;
