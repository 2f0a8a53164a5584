CREATE TABLE `we``ird "t"` (id bigint PRIMARY KEY,
  `it's ``x``` varchar(20) NOT NULL DEFAULT 'a',
  KEY `O'Brien "idx"` (`it's ``x```)) ENGINE=InnoDB;
