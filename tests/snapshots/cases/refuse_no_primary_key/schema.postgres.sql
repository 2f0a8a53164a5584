CREATE TABLE events (name text, at timestamptz);
