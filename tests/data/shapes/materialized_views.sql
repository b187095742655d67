-- A materialized view's contents, not only its definition.
CREATE TABLE totals_source (k int PRIMARY KEY, n int);
INSERT INTO totals_source VALUES (1, 10), (2, 20);
CREATE MATERIALIZED VIEW totals AS SELECT sum(n) AS total FROM totals_source;
-- mutation: refreshed over other data, then the data put back
UPDATE totals_source SET n = 99 WHERE k = 1; REFRESH MATERIALIZED VIEW totals; UPDATE totals_source SET n = 10 WHERE k = 1;
