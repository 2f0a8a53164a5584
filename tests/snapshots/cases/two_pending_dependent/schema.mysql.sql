CREATE TABLE users (id bigint PRIMARY KEY, user_name varchar(100) NOT NULL, email varchar(100)) ENGINE=InnoDB;
