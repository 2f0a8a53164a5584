CREATE TABLE customers (id bigint PRIMARY KEY);
INSERT INTO customers (id) VALUES (1), (2), (3);
CREATE TABLE accounts (id bigserial PRIMARY KEY, email text, score integer, customer_id bigint);
INSERT INTO accounts (email, score, customer_id) SELECT CASE WHEN g % 4 = 0 THEN NULL ELSE 'user' || (g / 2) || '@example.com' END, CASE WHEN g % 3 = 0 THEN -g ELSE g END, CASE WHEN g % 5 = 0 THEN 99 ELSE g % 3 + 1 END FROM generate_series(1, 200) g;
