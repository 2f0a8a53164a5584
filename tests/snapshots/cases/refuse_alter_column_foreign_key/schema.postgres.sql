CREATE TABLE vendors (code varchar(20) PRIMARY KEY);
CREATE TABLE products (id bigint PRIMARY KEY,
  price_cents integer NOT NULL CONSTRAINT products_price_check CHECK (price_cents >= 0),
  vendor varchar(20) CONSTRAINT products_vendor_fkey REFERENCES vendors (code),
  CONSTRAINT products_vendor_key UNIQUE (vendor));
CREATE TABLE offers (id bigint PRIMARY KEY,
  vendor varchar(20) CONSTRAINT offers_vendor_fkey REFERENCES products (vendor));
