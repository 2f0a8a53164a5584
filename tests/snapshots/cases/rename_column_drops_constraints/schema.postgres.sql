-- user_name has every dependent migrate carries over: a default, NOT NULL,
-- a comment, a plain and an expression index, a UNIQUE constraint, a CHECK,
-- a foreign key to handles and one from orders.
CREATE TABLE handles (name text PRIMARY KEY);
CREATE TABLE users (
  id bigint PRIMARY KEY,
  user_name text NOT NULL DEFAULT 'anon'
    CONSTRAINT users_user_name_key UNIQUE
    CONSTRAINT users_user_name_check CHECK (length(user_name) > 0)
    CONSTRAINT users_user_name_fkey REFERENCES handles (name),
  email text);
CREATE INDEX users_user_name_idx ON users (user_name);
CREATE INDEX users_lower_user_name_idx ON users (lower(user_name)) WHERE email IS NOT NULL;
COMMENT ON COLUMN users.user_name IS 'the login name; it''s shown to others';
CREATE TABLE orders (id bigint PRIMARY KEY,
  user_name text CONSTRAINT orders_user_name_fkey REFERENCES users (user_name),
  total integer);
