CREATE TABLE users (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_name varchar(100) NOT NULL DEFAULT 'anon',
  email varchar(200) NULL, score int NOT NULL, note varchar(50) NULL,
  KEY users_user_name_idx (user_name, email)) ENGINE=InnoDB;
