CREATE TABLE users (id bigint PRIMARY KEY, name text,
  legacy_flag boolean NOT NULL);
CREATE INDEX users_legacy_idx ON users (legacy_flag);
