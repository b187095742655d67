"""Check that the registry serves the OCI distribution API and holds the pinned image.

    REGISTRY_PASSWORD=... uv run scripts/registry_check.py \
        --image registry.railiance.internal:5000/state-hub@sha256:<digest> --username ci [--report FILE]

Asks `GET /v2/` (answering a Basic or Bearer challenge with --username and REGISTRY_PASSWORD from
the environment), then `HEAD /v2/<repository>/manifests/<digest>`. Each failure is explained:
nothing listening, 404 on /v2/ (no registry served there, e.g. Gitea packages not enabled), 401
(credentials), manifest 404 (that digest was never pushed). Registries on localhost are spoken
to over plain HTTP, every other one over HTTPS unless --plain-http. Only reads.
Exit 0 found, 1 not found or not reachable, 2 refused (bad reference).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import os
from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.data.report_files import write_report
from statehub.policy.image_ref import parse_image_ref
from statehub.policy.refusal import Refusal
from statehub.registry.client import Credentials, default_scheme, registry_report


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--image", required=True, help="the image reference, pinned by digest (repo@sha256:...)")
    parser.add_argument("--username", help="registry user; the password comes from REGISTRY_PASSWORD")
    parser.add_argument("--plain-http", action="store_true", help="speak HTTP, not HTTPS, to a non-local registry")
    parser.add_argument("--report", type=Path, help="also write a registry-check report (JSON)")
    args = parser.parse_args()
    ref = parse_image_ref(args.image)
    if ref is None:
        raise Refusal(f"--image {args.image!r} is not an image reference: give repo@sha256:<64 hex digits>")
    if not ref.pinned:
        raise Refusal(
            f"--image {args.image!r} is not pinned by digest: a tag can move. Give repo@sha256:<64 hex digits> "
            "(stage image exports it as imageRef)"
        )
    password = os.environ.get("REGISTRY_PASSWORD")
    if args.username and not password:
        raise Refusal(f"--username {args.username!r} given but REGISTRY_PASSWORD is not set in the environment")
    credentials = Credentials(args.username, password or "") if args.username else None
    scheme = "http" if args.plain_http else default_scheme(ref)
    report = registry_report(ref, credentials, scheme=scheme)
    for step in report.details["steps"]:
        console().print(f"{'ok' if step['ok'] else 'FAIL'} {step['step']}: {step['explanation']}")
    if args.report:
        write_report(report, args.report)
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
