CREATE TABLE docs (id bigint PRIMARY KEY, title varchar(100), tags varchar(100)) ENGINE=InnoDB;
