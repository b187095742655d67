-- Partition bounds, and rows in the right partition.
CREATE TABLE measures (at date NOT NULL, v int) PARTITION BY RANGE (at);
CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO measures VALUES ('2025-06-01', 1), ('2026-06-01', 2);
-- mutation: a bound moves
ALTER TABLE measures DETACH PARTITION measures_2026; ALTER TABLE measures ATTACH PARTITION measures_2026 FOR VALUES FROM ('2026-01-01') TO ('2028-01-01');
