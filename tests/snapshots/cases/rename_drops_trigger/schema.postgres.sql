-- a user trigger whose PL/pgSQL names the old column, listed under drops:
CREATE TABLE users (id bigint PRIMARY KEY, user_name text NOT NULL, email text);
CREATE FUNCTION users_lower_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.user_name := lower(NEW.user_name);
  RETURN NEW;
END $$;
CREATE TRIGGER users_lower_name BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION users_lower_name();
