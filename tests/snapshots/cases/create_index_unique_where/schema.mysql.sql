CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100), deleted_at datetime) ENGINE=InnoDB;
