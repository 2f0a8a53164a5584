CREATE TABLE users (id bigint PRIMARY KEY, name varchar(50), email varchar(50), KEY users_email_idx (email)) ENGINE=InnoDB;
