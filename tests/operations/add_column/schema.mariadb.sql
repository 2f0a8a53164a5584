CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, total decimal(12,2) NOT NULL, note varchar(100)) ENGINE=InnoDB;
INSERT INTO orders (total, note) SELECT seq * 37 % 2000, CONCAT('seed-', seq) FROM seq_1_to_200;
