CREATE TABLE events (source text NOT NULL, seq integer NOT NULL, at timestamptz); CREATE UNIQUE INDEX events_source_seq_key ON events (source, seq);
