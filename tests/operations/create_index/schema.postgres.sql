CREATE TABLE invoices (id bigserial PRIMARY KEY, customer_id integer NOT NULL, code text NOT NULL);
INSERT INTO invoices (customer_id, code) SELECT g % 17, 'c-' || g FROM generate_series(1, 200) g;
