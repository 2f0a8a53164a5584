CREATE TABLE users (id bigint PRIMARY KEY, user_name text NOT NULL, email text);
CREATE VIEW active_users AS SELECT id, user_name FROM users WHERE email IS NOT NULL;
