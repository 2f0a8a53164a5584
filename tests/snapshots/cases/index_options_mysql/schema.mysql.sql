-- create_index with the options InnoDB has (descending key parts, NULLs in
-- the order's own place, a unique index that is the constraint), and
-- drop_index.
CREATE TABLE docs (id bigint PRIMARY KEY, title varchar(100), `rank` int, code varchar(20), KEY docs_rank_idx (`rank`)) ENGINE=InnoDB;
