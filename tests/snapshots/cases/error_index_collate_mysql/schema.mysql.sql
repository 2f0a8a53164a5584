CREATE TABLE docs (id bigint PRIMARY KEY, title varchar(100), body varchar(200), `rank` int, code varchar(20)) ENGINE=InnoDB;
