-- A domain over a domain over bpchar: every level of typbasetype resolved (a cast to text drops trailing spaces).
CREATE DOMAIN code AS bpchar;
CREATE DOMAIN short_code AS code;
CREATE DOMAIN shorter_code AS short_code NOT NULL;
CREATE TABLE items (id int PRIMARY KEY, code shorter_code, loose bpchar);
INSERT INTO items VALUES (1, 'ab', 'x'), (2, 'cd', 'y ');
-- mutation: trailing space in a domain over a domain over bpchar
UPDATE items SET code = 'ab    ' WHERE id = 1;
-- mutation: unbounded bpchar loses a trailing space
UPDATE items SET loose = 'y' WHERE id = 2;
