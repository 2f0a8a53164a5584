CREATE TABLE items (id bigint PRIMARY KEY, qty text, note text);
