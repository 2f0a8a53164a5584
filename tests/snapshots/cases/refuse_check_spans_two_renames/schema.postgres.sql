CREATE TABLE t (id bigint PRIMARY KEY, a integer, b integer, CONSTRAINT t_a_b_check CHECK (a < b));
