"""Build (once, cached) the real Pulumi CLI, the Kubernetes provider, etcd and kube-apiserver.

    uv run scripts/engine_tools.py build    # idempotent; prints progress per binary, the bin folder last
    uv run scripts/engine_tools.py path     # prints the bin folder; exit 1 when something is not built

Everything comes from the Go module proxy through the wrapper modules in engine/; nothing is
downloaded as a release. A cold build takes about 10-15 minutes on 2 cores; later builds are
instant. The engine tier of the tests (tests/engine) and scripts/local_cluster.py use these.
"""

from __future__ import annotations

import sys

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.engine.engine_build import BINARIES, EngineBuildError, bin_dir, build_all, built_binaries, missing
from statehub.policy.refusal import Refusal


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("command", choices=["build", "path", "versions"], help="what to do")
    args = parser.parse_args()
    try:
        directory = build_all(console().print) if args.command == "build" else bin_dir()
    except EngineBuildError as error:
        raise Refusal(str(error)) from None
    absent = missing(directory)
    if absent:
        console().print(f"not built: {', '.join(absent)}. Run: uv run scripts/engine_tools.py build")
        return FAIL
    if args.command == "versions":
        built = built_binaries(directory)
        for binary in BINARIES:
            entry = built[binary.name]
            console().print(
                f"{entry.name} {entry.version}: built in {entry.seconds:.0f} s, {entry.size_bytes / 2**20:.0f} MiB"
            )
    print(directory)
    sys.stdout.flush()
    return PASS


if __name__ == "__main__":
    run_cli(main)
