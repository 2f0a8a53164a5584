CREATE TABLE users (id bigint PRIMARY KEY, name text, email text); CREATE INDEX users_email_idx ON users (email);
