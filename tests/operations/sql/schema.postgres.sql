CREATE TABLE old_audit (id bigserial PRIMARY KEY, note text NOT NULL);
INSERT INTO old_audit (note) SELECT 'seed-' || g FROM generate_series(1, 200) g;
