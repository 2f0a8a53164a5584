CREATE TABLE customers (id bigint PRIMARY KEY);
CREATE TABLE accounts (id bigint PRIMARY KEY, email text, score integer, customer_id bigint);
