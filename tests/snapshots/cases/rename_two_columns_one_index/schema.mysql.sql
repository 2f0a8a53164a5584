CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b varchar(50) NULL,
  CONSTRAINT t_a_b_key UNIQUE (a, b), KEY t_a_b_idx (a, b)) ENGINE=InnoDB;
