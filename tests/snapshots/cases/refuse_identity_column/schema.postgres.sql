CREATE TABLE tickets (id bigint PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, title text);
