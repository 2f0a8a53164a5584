CREATE TABLE docs (id bigint PRIMARY KEY, body text) ENGINE=InnoDB;
