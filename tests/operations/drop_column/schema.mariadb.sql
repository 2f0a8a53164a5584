CREATE TABLE accounts (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL, legacy_flag boolean NOT NULL, KEY accounts_legacy_flag_idx (legacy_flag)) ENGINE=InnoDB;
INSERT INTO accounts (name, legacy_flag) SELECT CONCAT('seed-', seq), seq % 3 = 0 FROM seq_1_to_200;
