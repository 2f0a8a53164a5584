CREATE TABLE customers (id bigint PRIMARY KEY, name varchar(100) NOT NULL, spent int) ENGINE=InnoDB;
