-- Two tasks swap their statuses: the rows' multiset of columns is the same, the rows are not.
CREATE TABLE tasks (id int PRIMARY KEY, status text NOT NULL, done boolean NOT NULL);
INSERT INTO tasks VALUES (1, 'open', false), (2, 'closed', true), (3, 'open', false);
-- mutation: swap statuses
UPDATE tasks SET status = CASE id WHEN 1 THEN 'closed' ELSE 'open' END WHERE id IN (1, 2);
-- mutation: swap one boolean between rows
UPDATE tasks SET done = NOT done WHERE id IN (2, 3);
