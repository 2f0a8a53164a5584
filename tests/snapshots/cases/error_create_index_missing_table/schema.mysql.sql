-- orders does not exist. Errors in the order the planner checks: the table
-- first, then what the index asks of it (v0.11.0 refused where: first on
-- MySQL/MariaDB; changed deliberately in issue 12, see the commit).
CREATE TABLE users (id bigint PRIMARY KEY, user_name varchar(100)) ENGINE=InnoDB;
