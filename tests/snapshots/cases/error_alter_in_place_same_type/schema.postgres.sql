CREATE TABLE users (id bigint PRIMARY KEY, score integer, email text);
