CREATE TABLE accounts (id bigint NOT NULL PRIMARY KEY, full_name varchar(200) NULL, email varchar(200) NULL, score int NOT NULL DEFAULT 0, note varchar(50) NULL) ENGINE=InnoDB;
