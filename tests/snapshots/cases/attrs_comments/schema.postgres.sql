CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, CONSTRAINT customers_email_key UNIQUE (email));
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, customer_email text, status text NOT NULL DEFAULT 'new', total integer NOT NULL, note text, CONSTRAINT orders_total_check CHECK (total >= 0), CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id), CONSTRAINT orders_email_fk FOREIGN KEY (customer_email) REFERENCES customers (email));
CREATE UNIQUE INDEX orders_id_total ON orders (id, total);
COMMENT ON COLUMN orders.note IS 'free text';
