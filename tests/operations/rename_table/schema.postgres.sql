CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, plan text NOT NULL DEFAULT 'free');
CREATE TABLE invoices (id bigserial PRIMARY KEY, account_id bigint NOT NULL CONSTRAINT invoices_account_fk REFERENCES accounts (id));
INSERT INTO accounts (name) SELECT 'seed-' || g FROM generate_series(1, 200) g;
INSERT INTO invoices (account_id) SELECT g FROM generate_series(1, 200) g;
