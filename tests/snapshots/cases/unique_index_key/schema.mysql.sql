CREATE TABLE events (source varchar(20) NOT NULL, seq int NOT NULL, at datetime, UNIQUE KEY events_source_seq_key (source, seq)) ENGINE=InnoDB;
