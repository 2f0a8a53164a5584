CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL, touched int NOT NULL DEFAULT 0) ENGINE=InnoDB;
CREATE TABLE audit (id bigint AUTO_INCREMENT PRIMARY KEY, order_id bigint) ENGINE=InnoDB;
CREATE TRIGGER `Touch Orders` BEFORE UPDATE ON orders FOR EACH ROW SET NEW.touched = OLD.touched + 1;
CREATE TRIGGER on_insert BEFORE INSERT ON orders FOR EACH ROW SET NEW.touched = 0;
CREATE TRIGGER audit_after AFTER UPDATE ON orders FOR EACH ROW
BEGIN
  INSERT INTO audit (order_id) VALUES (NEW.id);
END;
