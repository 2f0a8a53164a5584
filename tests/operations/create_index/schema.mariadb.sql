CREATE TABLE invoices (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id int NOT NULL, code varchar(40) NOT NULL) ENGINE=InnoDB;
INSERT INTO invoices (customer_id, code) SELECT seq % 17, CONCAT('c-', seq) FROM seq_1_to_200;
