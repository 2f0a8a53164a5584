CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric(12,2) NOT NULL, note text);
INSERT INTO orders (total, note) SELECT g * 37 % 2000, 'seed-' || g FROM generate_series(1, 200) g;
