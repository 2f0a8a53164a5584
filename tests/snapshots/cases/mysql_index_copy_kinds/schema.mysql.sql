CREATE TABLE docs (
    id int PRIMARY KEY,
    title varchar(200) NOT NULL,
    body text NULL,
    KEY docs_title_pfx (title(10) DESC),
    UNIQUE KEY docs_title_u (title),
    FULLTEXT KEY docs_title_body_ft (title, body)
) ENGINE=InnoDB;
CREATE TABLE a_really_long_table_name_that_goes_on_and_on_for_quite_a_whi (
    id int PRIMARY KEY, v int NOT NULL,
    KEY a_really_long_index_name_that_goes_on_and_on_for_quite_a_whilexy (v)
) ENGINE=InnoDB;
