CREATE TABLE items (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, label varchar(50), price int NOT NULL, qty int NOT NULL, total int AS (price * qty) STORED) ENGINE=InnoDB;
