CREATE TABLE accounts (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL, plan varchar(20) NOT NULL DEFAULT 'free') ENGINE=InnoDB;
CREATE TABLE invoices (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id bigint NOT NULL, CONSTRAINT invoices_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)) ENGINE=InnoDB;
INSERT INTO accounts (name) SELECT CONCAT('seed-', seq) FROM seq_1_to_200;
INSERT INTO invoices (account_id) SELECT seq FROM seq_1_to_200;
