"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from statehub.data.dsn import cancel_queries
from statehub.data.errors import ToolError

_running: set[subprocess.Popen[Any]] = set()
_lock = threading.RLock()
"""Re-entrant: the signal handler takes it in the main thread, which may be interrupted holding it."""
_ending = threading.Event()


def tied_to_parent(argv: list[str]) -> list[str]:
    """`argv`, run so that the child gets SIGKILL when the thread that started it dies, however it dies
    (SIGKILL included): no pg_dump keeps reading and no server keeps running after its script is gone.

    Done with util-linux's `setpriv --pdeathsig` (Essential on Debian) rather than a `preexec_fn`: a
    preexec_fn makes Python fork with the process's fork handlers, and in a process that serves a
    program to the Pulumi CLI (the Automation API's gRPC threads) the child then aborts before exec.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


@contextlib.contextmanager
def child(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """A tool started tied to its parent and known to `kill_children` until it has ended. A worker thread
    starts none once the process is ending (`end_all_tools`)."""
    worker = threading.current_thread() is not threading.main_thread()
    process = subprocess.Popen(tied_to_parent(argv), **popen)
    with _lock:  # the same lock end_all_tools lists under: a tool is either killed there or here
        ending = worker and _ending.is_set()
        if not ending:
            _running.add(process)
    if ending:
        process.kill()
        process.wait()
        raise ToolError(f"not starting {Path(argv[0]).name}: the process is ending")
    try:
        yield process
    finally:
        with _lock:
            _running.discard(process)
        if process.poll() is None:
            process.kill()
            process.wait()


def is_alive(pid: int) -> bool:
    """Whether process `pid` still runs: one of ours that exited is reaped first (no zombie passes for alive),
    and one we may not signal (another user's) counts as running."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupts_to_the_main_thread() -> None:
    """Block Ctrl-C and SIGTERM in the calling worker thread (a pool's `initializer`). The kernel may hand a
    signal to any thread that does not block it; one taken by a worker wakes nobody, and the main thread,
    waiting on a future, never runs the handler that ends the work (found hung in the fault suite)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def stop_all_work() -> None:
    """End every running tool and cancel every running query of this process: when one half of a two-part
    job (pg_dump beside its fingerprint) failed and the other would wait on."""
    kill_children()
    cancel_queries()


def end_all_tools() -> None:
    """The process is ending (a signal): end every running tool and let no worker thread start another.
    A worker that was about to start one when the signal came (pg_dump beside a fingerprint that was
    already waiting on a lock) would otherwise start it afterwards, unseen, and the tool would wait on the
    lock for as long as the lock holds, and the exit with it (found hung in the fault suite)."""
    with _lock:
        _ending.set()
    kill_children()


def kill_children() -> None:
    """End every running tool now. A signal handler calls it: the thread that waits for a tool (a worker
    of a pool the interrupted main thread joins) would otherwise wait for as long as the tool runs,
    which is forever when it waits for a lock."""
    with _lock:
        running = list(_running)
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
