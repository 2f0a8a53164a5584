CREATE TABLE tickets (id bigint PRIMARY KEY, seq serial, title text);
