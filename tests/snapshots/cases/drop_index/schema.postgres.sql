CREATE TABLE users (id bigint PRIMARY KEY, email text, user_name text);
CREATE INDEX users_email_idx ON users (email);
