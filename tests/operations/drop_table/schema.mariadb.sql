CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL) ENGINE=InnoDB;
CREATE TABLE legacy (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, note varchar(100) NOT NULL) ENGINE=InnoDB;
CREATE TABLE legacy_child (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, legacy_id bigint, CONSTRAINT legacy_child_fk FOREIGN KEY (legacy_id) REFERENCES legacy (id)) ENGINE=InnoDB;
INSERT INTO users (name) SELECT CONCAT('seed-', seq) FROM seq_1_to_200;
INSERT INTO legacy (note) SELECT CONCAT('seed-', seq) FROM seq_1_to_200;
INSERT INTO legacy_child (legacy_id) SELECT seq FROM seq_1_to_200;
