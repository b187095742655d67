-- Functions and procedures: body and SECURITY DEFINER.
CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql AS 'SELECT i + 1';
CREATE PROCEDURE touch() LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$;
-- mutation: body changes
CREATE OR REPLACE FUNCTION add_one(i int) RETURNS int LANGUAGE sql AS 'SELECT i + 2';
-- mutation: becomes SECURITY DEFINER
ALTER FUNCTION add_one(int) SECURITY DEFINER;
-- mutation: procedure dropped
DROP PROCEDURE touch();
