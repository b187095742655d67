"""Every object's URN at railiance01's last stage against a committed baseline.

A URN is how Pulumi knows an object is the one it made. A renamed or re-parented resource gets a new URN,
and pulumi-kubernetes 4.25 then creates the "new" object (adopting the live one by its Kubernetes name) and
deletes the "old" one, which removes the live object: a NetworkPolicy or the owner's Secret gone from under
the database. So a URN may change only on purpose, with `aliases` naming the old one.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.program.conftest import BACKUP_DECIDED, Render
from tests.program.evidence_set import EvidenceSet

BASELINE = Path(__file__).with_name("railiance01-urns.txt")


def test_no_urn_changes_without_an_alias(render: Render, evidence: EvidenceSet) -> None:
    run = render(
        "railiance01",
        "stage=stabilise",
        "endpoint=cluster",
        "recoveryDrill=true",
        f"statusReport={evidence.status('status', age=timedelta(hours=1))}",
        *evidence.overrides(evidence.standard()),
        *BACKUP_DECIDED,
    )
    urns = sorted(resource.urn for resource in run.resources)
    baseline = BASELINE.read_text().split()
    gone, new = sorted(set(baseline) - set(urns)), sorted(set(urns) - set(baseline))
    assert not gone and not new, (
        f"URNs changed (gone: {gone}; new: {new}). A moved resource needs `aliases` with its old name and parent, "
        f"or its live object is deleted on the next up; then write the new list to {BASELINE.name}"
    )
