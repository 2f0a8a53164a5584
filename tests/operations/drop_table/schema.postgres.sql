CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE legacy (id bigserial PRIMARY KEY, note text NOT NULL);
CREATE TABLE legacy_child (id bigserial PRIMARY KEY, legacy_id bigint CONSTRAINT legacy_child_fk REFERENCES legacy (id));
INSERT INTO users (name) SELECT 'seed-' || g FROM generate_series(1, 200) g;
INSERT INTO legacy (note) SELECT 'seed-' || g FROM generate_series(1, 200) g;
INSERT INTO legacy_child (legacy_id) SELECT g FROM generate_series(1, 200) g;
