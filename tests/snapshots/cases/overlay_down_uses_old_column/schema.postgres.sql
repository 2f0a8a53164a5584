CREATE TABLE accounts (id bigint PRIMARY KEY, full_name text, email text, score integer NOT NULL DEFAULT 0, note text);
