CREATE TABLE people (id bigserial PRIMARY KEY, age integer, name text NOT NULL);
INSERT INTO people (age, name) SELECT CASE WHEN g % 10 = 0 THEN NULL ELSE g % 100 END, 'seed-' || g FROM generate_series(1, 200) g;
