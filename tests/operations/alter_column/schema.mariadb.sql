CREATE TABLE people (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, age int, name varchar(100) NOT NULL) ENGINE=InnoDB;
INSERT INTO people (age, name) SELECT IF(seq % 10 = 0, NULL, seq % 100), CONCAT('seed-', seq) FROM seq_1_to_200;
