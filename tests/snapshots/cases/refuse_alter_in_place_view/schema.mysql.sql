CREATE TABLE users (id bigint PRIMARY KEY, score int, email text) ENGINE=InnoDB;
CREATE VIEW top_users AS SELECT id, score FROM users WHERE score > 10;
