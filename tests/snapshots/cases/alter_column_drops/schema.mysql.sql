CREATE TABLE vendors (code varchar(20) PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE products (id bigint PRIMARY KEY,
  price_cents int NOT NULL,
  vendor varchar(20) NULL,
  UNIQUE KEY products_vendor_key (vendor, id),
  CONSTRAINT products_price_check CHECK (price_cents >= 0),
  CONSTRAINT products_vendor_fkey FOREIGN KEY (vendor) REFERENCES vendors (code)
) ENGINE=InnoDB;
CREATE TABLE offers (id bigint PRIMARY KEY, vendor varchar(20),
  CONSTRAINT offers_vendor_fkey FOREIGN KEY (vendor) REFERENCES products (vendor)) ENGINE=InnoDB;
