CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, user_name varchar(100) NOT NULL DEFAULT 'anon', email varchar(200), KEY users_user_name_idx (user_name)) ENGINE=InnoDB;
INSERT INTO users (user_name, email) SELECT CONCAT('seed-', seq), CONCAT('seed-', seq, '@example.com') FROM seq_1_to_200;
