CREATE TABLE tickets (id bigint PRIMARY KEY, seq integer GENERATED ALWAYS AS IDENTITY, title text);
