CREATE TABLE customers (id bigint PRIMARY KEY, email varchar(200) NOT NULL, CONSTRAINT customers_email_key UNIQUE (email)) ENGINE=InnoDB;
INSERT INTO customers SELECT seq, CONCAT('c', seq, '@x') FROM seq_1_to_20;
CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id bigint NOT NULL, customer_email varchar(200), status varchar(20) NOT NULL DEFAULT 'new', total int NOT NULL, note varchar(100) COMMENT 'free text',
  KEY orders_customer_idx (customer_id),
  CONSTRAINT orders_total_check CHECK (total >= 0),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT orders_email_fk FOREIGN KEY (customer_email) REFERENCES customers (email)) ENGINE=InnoDB;
INSERT INTO orders (customer_id, customer_email, total, note) SELECT 1 + seq % 20, CONCAT('c', 1 + seq % 20, '@x'), seq, CONCAT('seed-', seq) FROM seq_1_to_200;
