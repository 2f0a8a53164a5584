CREATE TABLE items (id bigint PRIMARY KEY, qty varchar(20), note text) ENGINE=InnoDB;
