-- jsonb values that its own hash function confuses.
CREATE TABLE events (id int PRIMARY KEY, payload jsonb, raw json);
INSERT INTO events VALUES (1, '{}', '{}'), (2, '{"n": 0.5}', '[1]'), (3, '{"a": 1, "b": {}}', null);
-- mutation: empty object becomes empty array
UPDATE events SET payload = '[]' WHERE id = 1;
-- mutation: 0.5 becomes 0.50
UPDATE events SET payload = '{"n": 0.50}' WHERE id = 2;
-- mutation: a key moves into the nested object
UPDATE events SET payload = '{"b": {"a": 1}}' WHERE id = 3;
-- mutation: json whitespace changes
UPDATE events SET raw = '[ 1 ]' WHERE id = 2;
