CREATE TABLE users (id bigint PRIMARY KEY, name varchar(100),
  score int NOT NULL DEFAULT 0 COMMENT 'points',
  last varchar(10),
  KEY users_score_idx (score),
  UNIQUE KEY users_name_score_key (name, score)) ENGINE=InnoDB;
