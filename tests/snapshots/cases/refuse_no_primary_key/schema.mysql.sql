CREATE TABLE events (name varchar(50), at datetime) ENGINE=InnoDB;
