CREATE TABLE customers (id bigint PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100), score int, customer_id bigint) ENGINE=InnoDB;
