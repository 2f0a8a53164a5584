CREATE TABLE orders (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id int NOT NULL, placed datetime NOT NULL, code varchar(40) NOT NULL) ENGINE=InnoDB;
