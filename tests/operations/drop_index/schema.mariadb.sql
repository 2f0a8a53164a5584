CREATE TABLE articles (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, title varchar(100) NOT NULL, body varchar(200), score int, slug varchar(60) NOT NULL, KEY articles_score_idx (score)) ENGINE=InnoDB;
INSERT INTO articles (title, body, score, slug) SELECT CONCAT('title-', seq), CONCAT('body-', seq), IF(seq % 10 = 0, NULL, seq % 100), CONCAT('slug-', seq) FROM seq_1_to_200;
