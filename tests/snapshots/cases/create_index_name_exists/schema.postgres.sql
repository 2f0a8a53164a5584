-- users_email_idx exists over another column. Refused (exit 2), as on
-- MySQL/MariaDB. v0.11.0 on PostgreSQL planned it: expand's CREATE INDEX ...
-- IF NOT EXISTS did nothing, switch-reads found the (wrong) index valid, and
-- rollback dropped the user's own index.
CREATE TABLE users (id bigint PRIMARY KEY, name text, email text);
CREATE INDEX users_email_idx ON users (name);
