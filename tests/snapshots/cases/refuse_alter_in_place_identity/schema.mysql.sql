CREATE TABLE tickets (id bigint PRIMARY KEY, seq int, total int AS (seq * 2) VIRTUAL, title text) ENGINE=InnoDB;
