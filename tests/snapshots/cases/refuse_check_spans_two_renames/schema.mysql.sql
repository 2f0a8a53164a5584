CREATE TABLE t (id bigint PRIMARY KEY, a int, b int, CONSTRAINT t_a_b_check CHECK (a < b)) ENGINE=InnoDB;
