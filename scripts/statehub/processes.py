"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import shutil


def tied_to_parent(argv: list[str]) -> list[str]:
    """`argv`, run so that the child gets SIGKILL when the thread that started it dies, however it dies
    (SIGKILL included): no pg_dump keeps reading and no server keeps running after its script is gone.

    Done with util-linux's `setpriv --pdeathsig` (Essential on Debian) rather than a `preexec_fn`: a
    preexec_fn makes Python fork with the process's fork handlers, and in a process that serves a
    program to the Pulumi CLI (the Automation API's gRPC threads) the child then aborts before exec.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv
