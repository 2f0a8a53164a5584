CREATE TABLE members (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, email varchar(200) NOT NULL, deleted_at datetime NULL) ENGINE=InnoDB;
INSERT INTO members (email, deleted_at) SELECT CONCAT('seed-', seq, '@example.com'), IF(seq % 4 = 0, NOW(), NULL) FROM seq_1_to_200;
