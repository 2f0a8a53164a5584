CREATE TABLE accounts (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, email varchar(100) NOT NULL, score int NOT NULL DEFAULT 0, note varchar(100)) ENGINE=InnoDB;
INSERT INTO accounts (email, score, note) SELECT CONCAT('seed-', seq), seq % 50, CONCAT('seed-', seq) FROM seq_1_to_200;
