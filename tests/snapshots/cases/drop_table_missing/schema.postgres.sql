CREATE TABLE legacy (id bigint PRIMARY KEY, note text);
CREATE TABLE parent (id bigint PRIMARY KEY);
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint CONSTRAINT child_parent_fk REFERENCES parent (id));
CREATE VIEW parent_ids AS SELECT id FROM parent;
