CREATE TABLE users (id bigint PRIMARY KEY, name text,
  score integer NOT NULL DEFAULT 0 CONSTRAINT users_score_check CHECK (score >= 0),
  last text);
CREATE INDEX users_score_idx ON users (score);
CREATE UNIQUE INDEX users_name_score_key ON users (name, score);
COMMENT ON COLUMN users.score IS 'points';
