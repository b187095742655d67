-- Large objects: their contents.
SELECT lo_from_bytea(424242, '\x0102'::bytea);
-- mutation: content changes
SELECT lo_put(424242, 0, '\x09'::bytea);
-- mutation: another large object
SELECT lo_from_bytea(434343, '\x00'::bytea);
