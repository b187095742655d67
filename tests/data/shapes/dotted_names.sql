-- Names with dots and quotes: a."b.c" and "a.b".c are different tables.
CREATE SCHEMA a; CREATE SCHEMA "a.b";
CREATE TABLE a."b.c" (id int PRIMARY KEY, v text);
CREATE TABLE "a.b".c (id int PRIMARY KEY, v text);
CREATE SEQUENCE "a.b"."odd ""seq""";
INSERT INTO a."b.c" VALUES (1, 'x'); INSERT INTO "a.b".c VALUES (1, 'y');
-- mutation: the rows trade places
UPDATE a."b.c" SET v = 'y'; UPDATE "a.b".c SET v = 'x';
-- mutation: the odd sequence moves
SELECT setval('"a.b"."odd ""seq"""', 5);
