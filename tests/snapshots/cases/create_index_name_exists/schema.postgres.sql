-- users_email_idx exists over another column. MySQL/MariaDB refuse the plan;
-- v0.11.0 on PostgreSQL plans it: expand's CREATE INDEX ... IF NOT EXISTS
-- does nothing, switch-reads finds the (wrong) index valid, and rollback
-- drops the user's own index. The expected file records that; a fix changes it.
CREATE TABLE users (id bigint PRIMARY KEY, name text, email text);
CREATE INDEX users_email_idx ON users (name);
