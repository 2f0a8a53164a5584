-- A schema, table and column that only work quoted: the column has a
-- default, NOT NULL, a comment, an index, a CHECK and an inbound key.
CREATE SCHEMA "App";
CREATE TABLE "App"."Users" (
  "Id" bigint PRIMARY KEY,
  "User Name" text NOT NULL DEFAULT 'x y'
    CONSTRAINT "Users Name Check" CHECK ("User Name" <> '')
    CONSTRAINT "Users Name Key" UNIQUE,
  plain text);
CREATE INDEX "Users By Name" ON "App"."Users" ("User Name", plain);
COMMENT ON COLUMN "App"."Users"."User Name" IS 'shown';
CREATE TABLE "App"."Orders" ("Id" bigint PRIMARY KEY,
  "Who" text CONSTRAINT "Orders Who" REFERENCES "App"."Users" ("User Name"));
