CREATE TABLE users (id bigint PRIMARY KEY, score integer, email text);
CREATE VIEW top_users AS SELECT id, score FROM users WHERE score > 10;
