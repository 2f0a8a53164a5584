CREATE TABLE accounts (
    id int PRIMARY KEY,
    code varchar(20) NOT NULL,
    UNIQUE KEY accounts_code_key (code)
) ENGINE=InnoDB;
CREATE TABLE users (
    id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_name varchar(100) NOT NULL DEFAULT 'anon',
    email varchar(200) CHARACTER SET latin1 COLLATE latin1_bin NULL COMMENT 'mail it',
    score int NOT NULL,
    acct varchar(20) NULL,
    note varchar(50) NULL,
    KEY users_user_name_idx (user_name, email),
    UNIQUE KEY users_score_u (score),
    CONSTRAINT users_score_ck CHECK (score >= 0),
    CONSTRAINT users_acct_fk FOREIGN KEY (acct) REFERENCES accounts (code)
) ENGINE=InnoDB;
CREATE TABLE invoices (
    id int PRIMARY KEY,
    account_code varchar(20) NULL,
    CONSTRAINT invoices_account_fk FOREIGN KEY (account_code) REFERENCES accounts (code)
) ENGINE=InnoDB;
CREATE TRIGGER users_mark BEFORE INSERT ON users FOR EACH ROW SET @mg_seen = 1;
CREATE TRIGGER users_note_upd BEFORE UPDATE ON users FOR EACH ROW SET NEW.note = NEW.note;
CREATE VIEW users_notes AS SELECT id, note FROM users;
