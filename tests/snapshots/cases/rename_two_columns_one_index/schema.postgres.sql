CREATE TABLE t (id bigint PRIMARY KEY, a integer NOT NULL, b text,
  CONSTRAINT t_a_b_key UNIQUE (a, b));
CREATE INDEX t_a_b_idx ON t (a, b);
