-- Composite types and their attributes; domains; enums.
CREATE TYPE point3 AS (x int, y int, z int);
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
-- mutation: attribute added
ALTER TYPE point3 ADD ATTRIBUTE w int;
-- mutation: attribute type changes
ALTER TYPE point3 ALTER ATTRIBUTE z TYPE bigint;
-- mutation: enum value added
ALTER TYPE mood ADD VALUE 'glad';
-- mutation: domain default
ALTER DOMAIN positive SET DEFAULT 1;
