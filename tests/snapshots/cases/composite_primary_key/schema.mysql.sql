CREATE TABLE line_items (order_id bigint, line_no int, qty int NOT NULL, PRIMARY KEY (order_id, line_no)) ENGINE=InnoDB;
