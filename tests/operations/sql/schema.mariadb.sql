CREATE TABLE old_audit (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, note varchar(100) NOT NULL) ENGINE=InnoDB;
INSERT INTO old_audit (note) SELECT CONCAT('seed-', seq) FROM seq_1_to_200;
