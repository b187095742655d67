-- Inheritance: a row moved from the child into the parent is not the same database.
CREATE TABLE base (id int, label text);
CREATE TABLE derived (extra text) INHERITS (base);
INSERT INTO base VALUES (1, 'parent row');
INSERT INTO derived VALUES (2, 'child row', 'x');
-- mutation: the child's row moves to the parent
DELETE FROM derived WHERE id = 2; INSERT INTO base VALUES (2, 'child row');
