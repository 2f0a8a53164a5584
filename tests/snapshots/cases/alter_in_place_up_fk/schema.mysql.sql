CREATE TABLE vendors (id int PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE products (id bigint PRIMARY KEY,
  vendor_id int NOT NULL,
  code varchar(100),
  UNIQUE KEY products_code_key (code),
  CONSTRAINT products_vendor_fkey FOREIGN KEY (vendor_id) REFERENCES vendors (id)) ENGINE=InnoDB;
