-- create_index with every option PostgreSQL has (issue 13), and drop_index.
CREATE TABLE docs (id bigint PRIMARY KEY, title text, body text, tags text[], rank int, code text);
CREATE INDEX docs_rank_idx ON docs (rank);
