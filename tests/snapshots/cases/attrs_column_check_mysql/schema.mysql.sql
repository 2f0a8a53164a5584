CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL CHECK (total >= 0)) ENGINE=InnoDB;
