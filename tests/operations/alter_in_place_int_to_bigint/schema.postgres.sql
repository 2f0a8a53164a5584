CREATE TABLE people (id bigserial PRIMARY KEY, name text NOT NULL, score integer NOT NULL DEFAULT 0,
  CONSTRAINT people_name_score_key UNIQUE (name, score));
CREATE INDEX people_score_idx ON people (score);
COMMENT ON COLUMN people.score IS 'points';
INSERT INTO people (name, score) SELECT 'seed-' || g, g FROM generate_series(1, 200) g;
