"""The rollback's reverse sync: the cluster's writes since cutover come back to the frozen WSL2."""

from __future__ import annotations

from pathlib import Path

import pytest

from statehub.data.dsn import Dsn, connect
from statehub.data.fingerprint import fingerprint
from statehub.data.freezing import freeze
from statehub.data.syncing import sync_back
from statehub.policy.fingerprints import fingerprint_digest
from statehub.policy.refusal import Refusal
from tests.data.conftest import NewDb, no_password
from tests.script_runner import run_script, script_env

CLUSTER_WRITES = [
    "INSERT INTO progress_events (task_id, kind, payload) VALUES (5, 'note', '{\"on\": \"cluster\"}')",
    "UPDATE tasks SET status = 'done', notes = NULL WHERE id = 9",
    "DELETE FROM progress_events WHERE id = 12",
    "INSERT INTO agent_notes (agent, note) VALUES ('agent-1', 'written on the cluster')",
    "INSERT INTO repos (name) VALUES ('new-repo')",
]


def copy_pair(new_db: NewDb) -> tuple[Dsn, Dsn]:
    """WSL2 and the cluster holding the same State Hub (seeded twice, identically)."""
    wsl2, cluster = new_db(scale=1), new_db(scale=1)
    assert fingerprint_digest(fingerprint(wsl2)) == fingerprint_digest(fingerprint(cluster))
    return wsl2, cluster


def test_sync_back_brings_every_kind_of_change_back(new_db: NewDb) -> None:
    wsl2, cluster = copy_pair(new_db)
    with connect(cluster, autocommit=True) as conn:
        for statement in CLUSTER_WRITES:
            conn.execute(statement.encode())
    freeze(wsl2, app_roles=[], probe=None)
    report = sync_back(cluster, wsl2)
    assert report.result == "pass", report.details["differences"]
    changes = report.details["changes"]
    assert changes["public.progress_events"] == {"inserted": 1, "updated": 0, "deleted": 1}
    assert changes["public.tasks"] == {"inserted": 0, "updated": 1, "deleted": 0}
    assert changes["public.repos"] == {"inserted": 1, "updated": 0, "deleted": 0}
    assert changes["public.agent_notes"] == {"inserted": 21, "updated": 0, "deleted": 20}  # no key: replaced whole
    assert set(changes) == {"public.progress_events", "public.tasks", "public.repos", "public.agent_notes"}
    assert fingerprint_digest(fingerprint(wsl2)) == fingerprint_digest(fingerprint(cluster))
    with connect(wsl2) as conn:  # sequences moved too: the next id does not collide with the cluster's
        assert (conn.execute("SELECT last_value FROM repos_id_seq").fetchone() or [0])[0] == 24


def test_sync_back_refuses_an_unfrozen_wsl2(new_db: NewDb) -> None:
    wsl2, cluster = copy_pair(new_db)
    with pytest.raises(Refusal, match="is not frozen"):
        sync_back(cluster, wsl2)


def test_sync_back_refuses_a_different_schema_and_changes_nothing(new_db: NewDb) -> None:
    wsl2, cluster = copy_pair(new_db)
    with connect(cluster, autocommit=True) as conn:
        conn.execute("ALTER TABLE tasks ADD COLUMN estimate int")
        conn.execute("INSERT INTO repos (name) VALUES ('after-migration')")
    freeze(wsl2, app_roles=[], probe=None)
    before = fingerprint_digest(fingerprint(wsl2))
    with pytest.raises(Refusal, match="schema differs"):
        sync_back(cluster, wsl2)
    assert fingerprint_digest(fingerprint(wsl2)) == before


def test_sync_back_cli(new_db: NewDb, tmp_path: Path) -> None:
    wsl2, cluster = copy_pair(new_db)
    with connect(cluster, autocommit=True) as conn:
        conn.execute(CLUSTER_WRITES[0].encode())
    freeze(wsl2, app_roles=[], probe=None)
    password = wsl2.get("password") or ""
    result = run_script(
        "sync_back.py",
        "--cluster",
        no_password(cluster),
        "--wsl2",
        no_password(wsl2),
        "--report",
        str(tmp_path / "sync.json"),
        env=script_env(PGPASSWORD=password, PGWSL2PASSWORD=password),
    )
    assert result.returncode == 0, result.stderr
    assert "1 inserted, 0 updated, 0 deleted" in result.stderr
    assert password not in (tmp_path / "sync.json").read_text()


HOSTILE_SETUP = """
CREATE TABLE handles (id int PRIMARY KEY, handle text UNIQUE NOT NULL);
INSERT INTO handles VALUES (1, 'alpha'), (2, 'beta');
CREATE TABLE loose (payload json, note text);
INSERT INTO loose VALUES ('{"a": 1}', 'x'), ('[1, 2]', 'y');
CREATE TABLE docs (id int PRIMARY KEY, body jsonb NOT NULL);
INSERT INTO docs VALUES (1, '{"n": 0.5}'), (2, '{}');
CREATE TABLE base (id int PRIMARY KEY, label text);
CREATE TABLE derived (extra text) INHERITS (base);
INSERT INTO base VALUES (1, 'parent');
INSERT INTO derived VALUES (2, 'child', 'x');
CREATE SCHEMA "odd.schema";
CREATE TABLE "odd.schema"."we""ird" (id serial PRIMARY KEY, v text);
INSERT INTO "odd.schema"."we""ird" (v) VALUES ('one');
"""

HOSTILE_CLUSTER_WRITES = """
UPDATE handles SET handle = 'swapping' WHERE id = 1;
UPDATE handles SET handle = 'alpha' WHERE id = 2;
UPDATE handles SET handle = 'beta' WHERE id = 1;
INSERT INTO loose VALUES ('{"b": 2}', 'z');
UPDATE docs SET body = '{"n": 0.50}' WHERE id = 1;
UPDATE docs SET body = '[]' WHERE id = 2;
UPDATE derived SET label = 'child changed' WHERE id = 2;
INSERT INTO derived VALUES (3, 'new child', 'y');
INSERT INTO "odd.schema"."we""ird" (v) VALUES ('two');
"""


def hostile_pair(new_db: NewDb) -> tuple[Dsn, Dsn]:
    wsl2, cluster = new_db(), new_db()
    for dsn in (wsl2, cluster):
        with connect(dsn, autocommit=True) as conn:
            conn.execute(HOSTILE_SETUP.encode())
    with connect(cluster, autocommit=True) as conn:
        conn.execute(HOSTILE_CLUSTER_WRITES.encode())
    return wsl2, cluster


def test_sync_back_handles_swaps_json_without_key_jsonb_inheritance_and_odd_names(new_db: NewDb) -> None:
    wsl2, cluster = hostile_pair(new_db)
    freeze(wsl2, app_roles=[], probe=None)
    report = sync_back(cluster, wsl2)
    assert report.result == "pass", report.details["differences"]
    assert report.details["committed"] is True
    assert fingerprint_digest(fingerprint(wsl2)) == fingerprint_digest(fingerprint(cluster))
    with connect(wsl2) as conn:
        assert conn.execute("SELECT count(*) FROM ONLY base").fetchone() == (1,)  # the children stayed children
        assert conn.execute("SELECT handle FROM handles ORDER BY id").fetchall() == [("beta",), ("alpha",)]
        assert conn.execute("SELECT body::text FROM docs ORDER BY id").fetchall() == [('{"n": 0.50}',), ("[]",)]
        last = conn.execute('SELECT last_value FROM "odd.schema"."we""ird_id_seq"').fetchone()
        assert last == (2,)  # the sequence behind the quoted name moved too


def test_sync_back_commits_nothing_unless_its_own_compare_passes(new_db: NewDb) -> None:
    """A difference the row sync cannot carry (a large object) must roll the whole transaction back."""
    wsl2, cluster = hostile_pair(new_db)
    with connect(cluster, autocommit=True) as conn:
        conn.execute("SELECT lo_from_bytea(0, '\\x01'::bytea)")
    freeze(wsl2, app_roles=[], probe=None)
    before = fingerprint_digest(fingerprint(wsl2))
    report = sync_back(cluster, wsl2)
    assert report.result == "fail"
    assert report.details["committed"] is False
    assert any(d["where"] == "(large objects)" for d in report.details["differences"])
    assert fingerprint_digest(fingerprint(wsl2)) == before


AWKWARD_SETUP = """
CREATE DOMAIN required_text AS text NOT NULL;
CREATE TABLE notes (id int PRIMARY KEY, body required_text, tokens bigint);
INSERT INTO notes VALUES (1, 'one', 1), (2, 'two', 2);
CREATE TABLE hashed (row_hash int PRIMARY KEY, row_hash_a text, v text);
INSERT INTO hashed VALUES (1, 'a', 'x'), (2, 'b', 'y');
CREATE TABLE audit (id serial PRIMARY KEY, what text);
CREATE FUNCTION audit_note() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN INSERT INTO audit (what) VALUES (TG_OP || '' '' || NEW.id); RETURN NEW; END';
CREATE TRIGGER always_audit AFTER INSERT OR UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION audit_note();
ALTER TABLE notes ENABLE ALWAYS TRIGGER always_audit;
"""

AWKWARD_CLUSTER_WRITES = """
UPDATE notes SET tokens = 4294967296 WHERE id = 1;
INSERT INTO notes VALUES (3, 'three', 3);
UPDATE hashed SET v = 'changed' WHERE row_hash = 2;
"""


def awkward_pair(new_db: NewDb) -> tuple[Dsn, Dsn]:
    wsl2, cluster = new_db(), new_db()
    for dsn in (wsl2, cluster):
        with connect(dsn, autocommit=True) as conn:
            conn.execute(AWKWARD_SETUP.encode())
    with connect(cluster, autocommit=True) as conn:
        conn.execute(AWKWARD_CLUSTER_WRITES.encode())  # the trigger fires here, on the cluster
    return wsl2, cluster


def test_sync_back_brings_a_folded_bigint_a_not_null_domain_a_row_hash_key_and_keeps_triggers_quiet(
    new_db: NewDb,
) -> None:
    """tokens = 2^32 hashes like 1 under the 32-bit fold: it must come back. The NOT NULL domain column must not
    stop the key lookup, a key named row_hash must not collide with the sync's own columns, and the ENABLE
    ALWAYS trigger (which fired on the cluster already) must not fire again: audit equals the cluster's."""
    wsl2, cluster = awkward_pair(new_db)
    freeze(wsl2, app_roles=[], probe=None)
    report = sync_back(cluster, wsl2)
    assert report.result == "pass", report.details["differences"]
    with connect(wsl2) as conn:
        assert conn.execute("SELECT tokens FROM notes WHERE id = 1").fetchone() == (4294967296,)
        assert conn.execute("SELECT v FROM hashed WHERE row_hash = 2").fetchone() == ("changed",)
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == (2,)  # the cluster's two, not four
        enabled = conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'always_audit'").fetchone()
        assert enabled == ("A",)  # put back as it was
    assert fingerprint_digest(fingerprint(wsl2)) == fingerprint_digest(fingerprint(cluster))


def test_a_failed_sync_back_puts_the_sequences_back(new_db: NewDb) -> None:
    """setval is not transactional: a sync that fails after moving WSL2's sequences must move them back, or
    its exit 2 ("nothing changed") would be false."""
    wsl2, cluster = awkward_pair(new_db)
    with connect(cluster, autocommit=True) as conn:
        conn.execute("SELECT setval('audit_id_seq', 500)")
        conn.execute("SELECT lo_from_bytea(0, '\\x01'::bytea)")  # a difference the rows cannot carry: no commit
    freeze(wsl2, app_roles=[], probe=None)
    before = fingerprint(wsl2)
    report = sync_back(cluster, wsl2)
    assert report.result == "fail"
    after = fingerprint(wsl2)
    assert after["sequences"] == before["sequences"]
    assert fingerprint_digest(after) == fingerprint_digest(before)
