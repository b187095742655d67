-- A materialized view WITH NO DATA has no rows to read (reading them is an error that must not kill the dump).
CREATE TABLE docs (id int PRIMARY KEY, body text);
INSERT INTO docs VALUES (1, '<a>1</a>'), (2, '<b/>');
CREATE MATERIALIZED VIEW doc_ids AS SELECT id FROM docs WITH NO DATA;
CREATE MATERIALIZED VIEW doc_count AS SELECT count(*) AS n FROM docs;
-- mutation: the empty materialized view gets populated
REFRESH MATERIALIZED VIEW doc_ids;
