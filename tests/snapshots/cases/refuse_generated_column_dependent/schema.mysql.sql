CREATE TABLE items (id bigint PRIMARY KEY, price int NOT NULL, qty int NOT NULL, total int AS (price * qty) VIRTUAL) ENGINE=InnoDB;
