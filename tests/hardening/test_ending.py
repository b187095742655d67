"""Once a script is ending (Ctrl-C, SIGTERM), no worker thread starts a tool it would leave behind.

Each case runs in its own interpreter: the ending is for the whole process, as it is in a script."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.program.conftest import PROJECT_DIR

AFTER_THE_SIGNAL = """
import subprocess, threading
from statehub.data.errors import ToolError
from statehub.data.processes import child, end_all_tools

end_all_tools()  # what the signal handler does first
said = []

def worker():
    try:
        with child(["sleep", "{marker}"]):
            said.append("started")
    except ToolError as error:
        said.append(str(error))

thread = threading.Thread(target=worker)
thread.start()
thread.join()
with child(["true"]) as main_thread_tool:  # the main thread, unwinding, may still run a tool
    main_thread_tool.wait()
print(said[0])
"""


def test_a_worker_starts_no_tool_once_the_process_is_ending() -> None:
    marker = "1234.5"  # a sleep no other test runs: pgrep finds only ours
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(AFTER_THE_SIGNAL.format(marker=marker))],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "not starting sleep: the process is ending"
    assert subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, check=False).returncode == 1
