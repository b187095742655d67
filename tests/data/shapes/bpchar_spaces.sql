-- Unbounded bpchar keeps trailing spaces in storage and in pg_dump; a cast to text drops them.
CREATE TABLE codes (id int PRIMARY KEY, code bpchar, fixed char(4));
INSERT INTO codes VALUES (1, 'ab', 'ab'), (2, 'cd', 'x');
-- mutation: trailing space added
UPDATE codes SET code = 'ab ' WHERE id = 1;
