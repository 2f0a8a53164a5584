CREATE TABLE users (id bigint PRIMARY KEY, user_name varchar(100)) ENGINE=InnoDB;
