CREATE TABLE customers (id bigint PRIMARY KEY);
CREATE TABLE accounts (id bigint PRIMARY KEY, email text, score integer, customer_id bigint);
ALTER TABLE accounts ADD CONSTRAINT accounts_score_positive CHECK (score >= 0);
