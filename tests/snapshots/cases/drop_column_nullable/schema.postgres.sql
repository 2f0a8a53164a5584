CREATE TABLE users (id bigint PRIMARY KEY, name text, note text);
