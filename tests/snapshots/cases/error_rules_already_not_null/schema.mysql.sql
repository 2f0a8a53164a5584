CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL) ENGINE=InnoDB;
