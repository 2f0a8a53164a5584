CREATE TABLE items (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, qty varchar(20), label varchar(100) NOT NULL,
  KEY items_qty_idx (qty)) ENGINE=InnoDB;
INSERT INTO items (qty, label) SELECT seq, CONCAT('seed-', seq) FROM seq_1_to_200;
