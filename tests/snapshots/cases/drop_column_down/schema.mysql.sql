CREATE TABLE users (id bigint PRIMARY KEY, name varchar(100) NULL,
  legacy_flag boolean NOT NULL,
  KEY users_legacy_idx (legacy_flag)) ENGINE=InnoDB;
