"""Build (once, cached) the real Pulumi CLI, a Kubernetes control plane and node, and the pods tier's images.

    uv run scripts/engine_tools.py build    # idempotent; progress per binary and image, the bin folder last
    uv run scripts/engine_tools.py path     # prints the bin folder; exit 1 when something is not built
    uv run scripts/engine_tools.py versions # what is built, how long each took, how big it is

Everything comes from the Go module proxy through the wrapper modules in engine/ (nothing is downloaded
as a release) and, for the images, from Debian's archive and PyPI (statehub/engine/pod_images.py). Cold,
the binaries take about 25-40 minutes on 2 cores and the images 5-10; later builds are instant. The
engine tier (tests/engine) needs the engine group; the pods tier (tests/pods, scripts/local_cluster.py
up --nodes 1) the pods group and the images. `--only engine` builds just the engine tier's tools.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import sys

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.engine.engine_build import BINARIES, GROUPS, EngineBuildError, bin_dir, build_all, built_binaries, missing
from statehub.engine.go_modules import GoModuleError
from statehub.engine.pod_images import ImageBuildError, build_images, built_images, images_dir, missing_tools
from statehub.policy.refusal import Refusal


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("command", choices=["build", "path", "versions"], help="what to do")
    parser.add_argument("--only", choices=GROUPS, help="build one group only (default: both, and the images)")
    args = parser.parse_args()
    groups = (args.only,) if args.only else GROUPS
    say = console().print
    try:
        directory = build_all(say, groups) if args.command == "build" else bin_dir()
        if args.command == "build" and "pods" in groups:
            if missing_tools():
                say(f"images not built: {', '.join(missing_tools())} missing (apt-get install buildah mmdebstrap gcc)")
            else:
                build_images(directory, say)
    except (EngineBuildError, GoModuleError, ImageBuildError) as error:
        raise Refusal(str(error)) from None
    absent = [name for group in groups for name in missing(directory, group)]
    if absent:
        say(f"not built: {', '.join(absent)}. Run: uv run scripts/engine_tools.py build")
        return FAIL
    if args.command == "versions":
        built = built_binaries(directory)
        for binary in BINARIES:
            if binary.group in groups:
                entry = built[binary.name]
                say(f"{entry.name} {entry.version}: built in {entry.seconds:.0f} s, {entry.size_bytes / 2**20:.0f} MiB")
        if "pods" in groups:
            for image in built_images(images_dir(directory)).values():
                say(f"image {image.ref}: built in {image.seconds:.0f} s, {image.size_bytes / 2**20:.0f} MiB")
    print(directory)
    sys.stdout.flush()
    return PASS


if __name__ == "__main__":
    run_cli(main)
