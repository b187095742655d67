-- Column identity: a bad rename that trades two same-typed columns' names keeps every value where it was.
CREATE TABLE tasks (id int PRIMARY KEY, title text, description text, status text COLLATE "C");
INSERT INTO tasks VALUES (1, 'write the plan', 'the long text', 'todo'), (2, 'review', 'more text', 'done');
CREATE TYPE labelled AS (label text COLLATE "C", weight int);
-- mutation: title and description trade names
ALTER TABLE tasks RENAME title TO tmp; ALTER TABLE tasks RENAME description TO title; ALTER TABLE tasks RENAME tmp TO description;
-- mutation: a column's collation changes
ALTER TABLE tasks ALTER COLUMN status TYPE text COLLATE "POSIX";
-- mutation: a composite attribute's collation changes
ALTER TYPE labelled ALTER ATTRIBUTE label TYPE text COLLATE "POSIX";
-- mutation: a column's statistics target
ALTER TABLE tasks ALTER COLUMN title SET STATISTICS 500;
-- mutation: a column's storage
ALTER TABLE tasks ALTER COLUMN title SET STORAGE EXTERNAL;
