CREATE TABLE vendors (id bigint PRIMARY KEY, code int, UNIQUE KEY vendors_code_key (code)) ENGINE=InnoDB;
CREATE TABLE offers (id bigint PRIMARY KEY, vendor_code int,
  CONSTRAINT offers_vendor_code_fkey FOREIGN KEY (vendor_code) REFERENCES vendors (code)) ENGINE=InnoDB;
