CREATE TABLE users (id bigint PRIMARY KEY, name varchar(100), note varchar(100)) ENGINE=InnoDB;
