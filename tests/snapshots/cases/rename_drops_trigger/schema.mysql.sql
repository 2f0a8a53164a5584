-- a user trigger whose body names the old column, listed under drops:
CREATE TABLE users (id bigint PRIMARY KEY, user_name varchar(100) NOT NULL, email varchar(100)) ENGINE=InnoDB;
CREATE TRIGGER users_lower_name BEFORE INSERT ON users FOR EACH ROW SET NEW.user_name = LOWER(NEW.user_name);
