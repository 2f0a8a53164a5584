CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer NOT NULL, placed timestamptz NOT NULL, code varchar(40) NOT NULL);
