-- Views (single-table views print differently on 15 and 16+), with a default and a check.
CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL DEFAULT 'anon', age int CHECK (age >= 0));
CREATE VIEW adults AS SELECT id, name FROM people WHERE age >= 18;
CREATE VIEW named AS SELECT p.name, q.id FROM people p JOIN people q ON q.id = p.id;
INSERT INTO people VALUES (1, 'ann', 30), (2, 'bob', 10);
-- mutation: view definition changes
CREATE OR REPLACE VIEW adults AS SELECT id, name FROM people WHERE age >= 21;
