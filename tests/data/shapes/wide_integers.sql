-- 64-bit values: hashint8extended folds lo32 XOR hi32, so a bigint, timestamp or timestamptz hashed natively
-- could not tell v from v XOR (k * (2^32 + 1)). Domains over them too.
CREATE DOMAIN token_count AS bigint;
CREATE TABLE token_events (id bigint PRIMARY KEY, tokens bigint, spent token_count, at timestamptz, local_at timestamp, t time);
INSERT INTO token_events VALUES
  (1, 1, 1, '2000-01-01 00:00:00+00', '2000-01-01 00:00:00', '00:00:00'),
  (2, 4294967296, 7, '2026-12-07 10:00:00+00', '2026-12-07 10:00:00', '01:00:00');
CREATE TABLE keyless_wide (tokens bigint, at timestamptz);
INSERT INTO keyless_wide VALUES (1, '2000-01-01 00:00:00+00'), (5, '2000-01-01 00:00:00+00');
-- mutation: bigint 1 -> 2^32 (same 32-bit fold)
UPDATE token_events SET tokens = 4294967297 WHERE id = 1;
-- mutation: domain over bigint 1 -> 2^32
UPDATE token_events SET spent = 4294967296 WHERE id = 1;
-- mutation: timestamptz moved by 2^32 + 1 microseconds (same fold)
UPDATE token_events SET at = at + interval '4294.967297 seconds' WHERE id = 1;
-- mutation: timestamp moved by 2^32 + 1 microseconds
UPDATE token_events SET local_at = local_at + interval '4294.967297 seconds' WHERE id = 1;
-- mutation: time moved by 2^32 + 1 microseconds
UPDATE token_events SET t = t + interval '4294.967297 seconds' WHERE id = 1;
-- mutation: keyless bigint 1 -> 2^32
UPDATE keyless_wide SET tokens = 4294967296 WHERE tokens = 1;
-- mutation: bigint key 1 -> 2^32
UPDATE token_events SET id = 4294967296 WHERE id = 1;
