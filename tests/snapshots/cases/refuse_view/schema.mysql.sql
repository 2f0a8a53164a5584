CREATE TABLE users (id bigint PRIMARY KEY, user_name varchar(100) NOT NULL, email varchar(100)) ENGINE=InnoDB;
CREATE VIEW active_users AS SELECT id, user_name FROM users WHERE email IS NOT NULL;
