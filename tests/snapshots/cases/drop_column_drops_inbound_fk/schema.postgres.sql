CREATE TABLE accounts (id integer PRIMARY KEY, code varchar(20) CONSTRAINT accounts_code_key UNIQUE);
CREATE TABLE invoices (id integer PRIMARY KEY,
  account_code varchar(20) CONSTRAINT invoices_account_fk REFERENCES accounts (code));
CREATE VIEW account_codes AS SELECT id, code FROM accounts;
