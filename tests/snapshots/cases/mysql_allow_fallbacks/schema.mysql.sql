CREATE TABLE packed (id int PRIMARY KEY, a int NULL, b int NULL) ENGINE=InnoDB;
CREATE TABLE other (id int PRIMARY KEY, c int NULL) ENGINE=InnoDB;
