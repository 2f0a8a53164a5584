-- a unique index (no constraint) that a foreign key references
CREATE TABLE accounts (id bigint PRIMARY KEY, code text NOT NULL);
CREATE UNIQUE INDEX accounts_code_idx ON accounts (code);
CREATE TABLE orders (id bigint PRIMARY KEY, account_code text CONSTRAINT orders_account_fk REFERENCES accounts (code));
