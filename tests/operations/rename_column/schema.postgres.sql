CREATE TABLE users (id bigserial PRIMARY KEY, user_name text NOT NULL DEFAULT 'anon', email text);
CREATE INDEX users_user_name_idx ON users (user_name);
INSERT INTO users (user_name, email) SELECT 'seed-' || g, 'seed-' || g || '@example.com' FROM generate_series(1, 200) g;
