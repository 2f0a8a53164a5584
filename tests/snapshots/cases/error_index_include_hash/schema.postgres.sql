CREATE TABLE docs (id bigint PRIMARY KEY, title text, body text, tags text[], rank int, code text);
