-- orders does not exist. The planner checks the table first, then what the
-- index asks of it (as v0.11.0 did on PostgreSQL).
CREATE TABLE users (id bigint PRIMARY KEY, user_name text);
