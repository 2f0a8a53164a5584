CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL) ENGINE=InnoDB;
INSERT INTO users (name) SELECT CONCAT('seed-', seq) FROM seq_1_to_200;
