CREATE TABLE docs (id bigint PRIMARY KEY, owner text NOT NULL, body text);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_owner_policy ON docs USING (owner = current_user);
