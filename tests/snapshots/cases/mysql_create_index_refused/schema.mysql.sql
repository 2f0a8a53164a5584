CREATE TABLE t (id int PRIMARY KEY, note varchar(50) NULL, bio text NULL,
  KEY t_note_idx (note)) ENGINE=InnoDB;
