CREATE TABLE users (id bigint PRIMARY KEY, name varchar(100),
  flag int NOT NULL DEFAULT 0,
  KEY users_flag_name_idx (flag, name),
  CONSTRAINT users_flag_check CHECK (flag >= 0)) ENGINE=InnoDB;
