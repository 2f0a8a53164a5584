CREATE TABLE products (id bigint PRIMARY KEY,
  price_cents integer NOT NULL CONSTRAINT products_price_check CHECK (price_cents >= 0),
  name text);
CREATE INDEX products_price_idx ON products (price_cents);
