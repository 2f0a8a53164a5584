CREATE TABLE users (id bigint PRIMARY KEY, score int, email text) ENGINE=InnoDB;
