CREATE TABLE customers (id bigint PRIMARY KEY);
INSERT INTO customers SELECT g FROM generate_series(1, 20) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id integer NOT NULL CONSTRAINT orders_customer_fkey REFERENCES customers (id), note text);
INSERT INTO orders (customer_id, note) SELECT 1 + g % 20, 'seed-' || g FROM generate_series(1, 200) g;
