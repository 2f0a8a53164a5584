CREATE TABLE users (id bigint PRIMARY KEY, flag boolean NOT NULL) ENGINE=InnoDB;
