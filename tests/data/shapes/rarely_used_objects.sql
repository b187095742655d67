-- Objects a FastAPI + Alembic State Hub rarely has; pg_dump restores each, so the signature compares each.
CREATE TABLE events (id int PRIMARY KEY, kind text, n int) WITH (fillfactor = 90);
CREATE TABLE archived (LIKE events);
CREATE RULE keep_archived AS ON DELETE TO events DO ALSO INSERT INTO archived VALUES (OLD.*);
CREATE VIEW small_events WITH (security_barrier = true) AS SELECT * FROM events WHERE n < 10 WITH CASCADED CHECK OPTION;
CREATE FUNCTION add_int(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + $2';
CREATE AGGREGATE total(int) (SFUNC = add_int, STYPE = int, INITCOND = '0');
CREATE OPERATOR <+> (LEFTARG = int, RIGHTARG = int, FUNCTION = add_int);
CREATE TYPE span AS RANGE (SUBTYPE = int);
CREATE TYPE rating AS (score int);
CREATE FUNCTION rating_of(int) RETURNS rating LANGUAGE sql IMMUTABLE AS 'SELECT ROW($1)::rating';
CREATE CAST (int AS rating) WITH FUNCTION rating_of(int);
CREATE STATISTICS kind_n (dependencies) ON kind, n FROM events;
CREATE UNLOGGED SEQUENCE scratch_seq;
COMMENT ON TABLE events IS 'what happened';
COMMENT ON COLUMN events.kind IS 'the kind';
CREATE PUBLICATION everything FOR TABLE events;
CREATE FOREIGN DATA WRAPPER nowhere;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER nowhere OPTIONS (host 'example.invalid');
CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';
CREATE EVENT TRIGGER ddl_note ON ddl_command_end EXECUTE FUNCTION note_ddl();
INSERT INTO events VALUES (1, 'a', 1), (2, 'b', 20);
-- mutation: a rule other than a view's SELECT rule
CREATE RULE no_update AS ON UPDATE TO events DO INSTEAD NOTHING;
-- mutation: an aggregate's INITCOND
DROP AGGREGATE total(int); CREATE AGGREGATE total(int) (SFUNC = add_int, STYPE = int, INITCOND = '1');
-- mutation: an operator's commutator
DROP OPERATOR <+> (int, int); CREATE OPERATOR <+> (LEFTARG = int, RIGHTARG = int, FUNCTION = add_int, COMMUTATOR = <+>);
-- mutation: a cast's context
DROP CAST (int AS rating); CREATE CAST (int AS rating) WITH FUNCTION rating_of(int) AS IMPLICIT;
-- mutation: a range type's options
DROP TYPE span; CREATE TYPE span AS RANGE (SUBTYPE = int, SUBTYPE_DIFF = int4range_subdiff);
-- mutation: a view's check option
ALTER VIEW small_events RESET (check_option);
-- mutation: a view's security barrier
ALTER VIEW small_events SET (security_barrier = false);
-- mutation: a table's storage parameters
ALTER TABLE events SET (fillfactor = 70);
-- mutation: an extended statistics object
DROP STATISTICS kind_n; CREATE STATISTICS kind_n (ndistinct) ON kind, n FROM events;
-- mutation: an unlogged sequence made logged
ALTER SEQUENCE scratch_seq SET LOGGED;
-- mutation: a comment
COMMENT ON COLUMN events.kind IS 'another kind';
-- mutation: a publication's tables
ALTER PUBLICATION everything ADD TABLE archived;
-- mutation: an event trigger disabled
ALTER EVENT TRIGGER ddl_note DISABLE;
-- mutation: a foreign server's options
ALTER SERVER elsewhere OPTIONS (SET host 'another.invalid');
