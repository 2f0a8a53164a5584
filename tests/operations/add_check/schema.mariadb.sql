CREATE TABLE customers (id bigint PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO customers (id) VALUES (1), (2), (3);
CREATE TABLE accounts (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, email varchar(100), score int, customer_id bigint) ENGINE=InnoDB;
INSERT INTO accounts (email, score, customer_id) SELECT CASE WHEN seq % 4 = 0 THEN NULL ELSE CONCAT('user', seq DIV 2, '@example.com') END, CASE WHEN seq % 3 = 0 THEN -seq ELSE seq END, CASE WHEN seq % 5 = 0 THEN 99 ELSE seq % 3 + 1 END FROM seq_1_to_200;
