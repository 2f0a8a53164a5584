CREATE TABLE products (id bigint PRIMARY KEY,
  price_cents int NOT NULL,
  name varchar(100) NULL,
  KEY products_price_idx (price_cents),
  CONSTRAINT products_price_check CHECK (price_cents >= 0)
) ENGINE=InnoDB;
