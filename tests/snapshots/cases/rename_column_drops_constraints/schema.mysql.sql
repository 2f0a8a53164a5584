-- user_name has every dependent migrate carries over: a default, NOT NULL,
-- a comment, indexes, a UNIQUE key, a CHECK, a foreign key to handles and
-- one from orders.
CREATE TABLE handles (name varchar(100) PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE users (
  id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_name varchar(100) NOT NULL DEFAULT 'anon' COMMENT 'the login name; it''s shown to others',
  email varchar(200) NULL,
  UNIQUE KEY users_user_name_key (user_name),
  KEY users_user_name_email_idx (user_name, email),
  CONSTRAINT users_user_name_check CHECK (char_length(user_name) > 0),
  CONSTRAINT users_user_name_fkey FOREIGN KEY (user_name) REFERENCES handles (name)
) ENGINE=InnoDB;
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  user_name varchar(100) NULL,
  total int NULL,
  CONSTRAINT orders_user_name_fkey FOREIGN KEY (user_name) REFERENCES users (user_name)
) ENGINE=InnoDB;
