CREATE TABLE vendors (id bigint PRIMARY KEY);
CREATE TABLE products (id bigint PRIMARY KEY,
  vendor_id integer NOT NULL CONSTRAINT products_vendor_fkey REFERENCES vendors (id),
  code text CONSTRAINT products_code_key UNIQUE);
