CREATE TABLE items (id bigserial PRIMARY KEY, qty text, label text NOT NULL);
CREATE INDEX items_qty_idx ON items (qty);
INSERT INTO items (qty, label) SELECT g::text, 'seed-' || g FROM generate_series(1, 200) g;
