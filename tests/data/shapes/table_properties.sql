-- Unlogged tables, replica identity, index validity.
CREATE TABLE log (id int PRIMARY KEY, line text);
CREATE INDEX log_line ON log (line);
-- mutation: unlogged
ALTER TABLE log SET UNLOGGED;
-- mutation: replica identity full
ALTER TABLE log REPLICA IDENTITY FULL;
-- mutation: index invalid (as a failed CREATE INDEX CONCURRENTLY leaves it)
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'log_line'::regclass;
