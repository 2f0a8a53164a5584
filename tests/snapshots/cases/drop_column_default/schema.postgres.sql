CREATE TABLE users (id bigint PRIMARY KEY, name text,
  flag integer NOT NULL DEFAULT 0 CONSTRAINT users_flag_check CHECK (flag >= 0));
CREATE INDEX users_flag_name_idx ON users (flag, name);
