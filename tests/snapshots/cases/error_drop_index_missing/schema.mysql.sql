CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100), user_name varchar(100), KEY users_email_idx (email)) ENGINE=InnoDB;
