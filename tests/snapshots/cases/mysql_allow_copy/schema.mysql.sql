CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, b int) ENGINE=InnoDB; CREATE TABLE u (id int PRIMARY KEY, c int, d int NOT NULL) ENGINE=InnoDB;
