-- Row-level security: enabled, forced, and its policies.
CREATE TABLE secrets (id int PRIMARY KEY, owner text);
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON secrets USING (owner = current_user);
-- mutation: row security off
ALTER TABLE secrets DISABLE ROW LEVEL SECURITY;
-- mutation: row security forced
ALTER TABLE secrets FORCE ROW LEVEL SECURITY;
-- mutation: policy changes
ALTER POLICY own_rows ON secrets USING (true);
-- mutation: policy missing
DROP POLICY own_rows ON secrets;
