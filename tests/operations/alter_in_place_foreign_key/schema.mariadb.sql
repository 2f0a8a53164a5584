CREATE TABLE customers (id int PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO customers SELECT seq FROM seq_1_to_20;
CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id int NOT NULL, note varchar(100),
  CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB;
INSERT INTO orders (customer_id, note) SELECT 1 + seq % 20, CONCAT('seed-', seq) FROM seq_1_to_200;
