CREATE TABLE accounts (id int PRIMARY KEY, code varchar(20) NULL, UNIQUE KEY accounts_code_key (code)) ENGINE=InnoDB;
CREATE TABLE invoices (id int PRIMARY KEY, account_code varchar(20) NULL,
  CONSTRAINT invoices_account_fk FOREIGN KEY (account_code) REFERENCES accounts (code)) ENGINE=InnoDB;
CREATE VIEW account_codes AS SELECT id, code FROM accounts;
