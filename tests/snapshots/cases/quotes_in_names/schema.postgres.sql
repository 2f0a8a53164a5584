CREATE SCHEMA "We""ird";
CREATE TABLE "We""ird"."O'Brien" (id bigint PRIMARY KEY,
  "it's ""x""" text NOT NULL DEFAULT 'a');
CREATE INDEX "O'Brien ""idx""" ON "We""ird"."O'Brien" ("it's ""x""");
