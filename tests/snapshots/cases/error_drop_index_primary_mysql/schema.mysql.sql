CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100)) ENGINE=InnoDB;
