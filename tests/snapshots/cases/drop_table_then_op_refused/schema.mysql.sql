CREATE TABLE legacy (id bigint PRIMARY KEY, note text) ENGINE=InnoDB;
CREATE TABLE parent (id bigint PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint, CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;
CREATE VIEW parent_ids AS SELECT id FROM parent;
