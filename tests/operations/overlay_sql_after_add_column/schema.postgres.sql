CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL, score int NOT NULL DEFAULT 0, note text);
INSERT INTO accounts (email, score, note) SELECT 'seed-' || g, g % 50, 'seed-' || g FROM generate_series(1, 200) g;
