CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, CONSTRAINT customers_email_key UNIQUE (email));
INSERT INTO customers SELECT g, 'c' || g || '@x' FROM generate_series(1, 20) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, customer_email text, status text NOT NULL DEFAULT 'new', total integer NOT NULL, note text,
  CONSTRAINT orders_total_check CHECK (total >= 0),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT orders_email_fk FOREIGN KEY (customer_email) REFERENCES customers (email));
CREATE UNIQUE INDEX orders_id_total ON orders (id, total);
COMMENT ON COLUMN orders.note IS 'free text';
INSERT INTO orders (customer_id, customer_email, total, note) SELECT 1 + g % 20, 'c' || (1 + g % 20) || '@x', g, 'seed-' || g FROM generate_series(1, 200) g;
