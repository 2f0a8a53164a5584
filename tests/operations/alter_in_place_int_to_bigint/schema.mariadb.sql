CREATE TABLE people (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, score int NOT NULL DEFAULT 0 COMMENT 'points',
  name varchar(100) NOT NULL, KEY people_score_idx (score), UNIQUE KEY people_name_score_key (name, score)) ENGINE=InnoDB;
INSERT INTO people (score, name) SELECT seq, CONCAT('seed-', seq) FROM seq_1_to_200;
