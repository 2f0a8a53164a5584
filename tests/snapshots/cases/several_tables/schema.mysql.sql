CREATE TABLE customers (id bigint PRIMARY KEY, nm varchar(100) NOT NULL) ENGINE=InnoDB;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, legacy varchar(10),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB;
