-- the only index over a foreign key's column on the referenced table
CREATE TABLE accounts (id bigint PRIMARY KEY, code varchar(20) NOT NULL, UNIQUE KEY accounts_code_idx (code)) ENGINE=InnoDB;
CREATE TABLE orders (id bigint PRIMARY KEY, account_code varchar(20), CONSTRAINT orders_account_fk FOREIGN KEY (account_code) REFERENCES accounts (code)) ENGINE=InnoDB;
