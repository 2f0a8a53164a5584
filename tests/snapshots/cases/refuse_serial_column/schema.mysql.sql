CREATE TABLE tickets (id bigint PRIMARY KEY, seq bigint NOT NULL AUTO_INCREMENT, title varchar(10), UNIQUE KEY (seq)) ENGINE=InnoDB;
