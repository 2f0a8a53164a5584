CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL, legacy_flag boolean NOT NULL);
CREATE INDEX accounts_legacy_flag_idx ON accounts (legacy_flag);
INSERT INTO accounts (name, legacy_flag) SELECT 'seed-' || g, g % 3 = 0 FROM generate_series(1, 200) g;
