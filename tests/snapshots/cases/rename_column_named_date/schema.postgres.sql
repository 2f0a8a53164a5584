CREATE TABLE ev (id bigint PRIMARY KEY, date date NOT NULL CHECK (date > '2000-01-01'::date));
