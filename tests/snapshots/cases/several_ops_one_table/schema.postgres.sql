CREATE TABLE users (id bigint PRIMARY KEY,
  user_name text NOT NULL DEFAULT 'anon',
  email text, score integer NOT NULL, note text);
CREATE INDEX users_user_name_idx ON users (user_name, email);
