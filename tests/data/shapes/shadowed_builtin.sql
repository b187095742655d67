-- A function in a user schema named like the built-in the hash uses must not switch the hash off.
CREATE FUNCTION public.hash_record_extended(r record, seed integer) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN 0; END';
CREATE FUNCTION public.hashint8extended(bigint, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 0::bigint';
CREATE FUNCTION public.md5(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT ''0''::text';
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes VALUES (1, 'first'), (2, 'second');
-- mutation: a row changes
UPDATE notes SET body = 'changed' WHERE id = 1;
