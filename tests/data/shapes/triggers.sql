-- Triggers: missing or disabled.
CREATE TABLE audited (id int PRIMARY KEY, v text);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.v := coalesce(NEW.v, 'x'); RETURN NEW; END $$;
CREATE TRIGGER audited_stamp BEFORE INSERT ON audited FOR EACH ROW EXECUTE FUNCTION stamp();
-- mutation: trigger missing
DROP TRIGGER audited_stamp ON audited;
-- mutation: trigger disabled
ALTER TABLE audited DISABLE TRIGGER audited_stamp;
