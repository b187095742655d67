"""scripts/local_cluster.py and scripts/engine_tools.py as an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from statehub.engine.engine_build import BIN_DIR_ENV
from tests.script_runner import SCRIPTS, run_script, script_env


def processes_under(directory: Path) -> list[str]:
    listing = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [
        line
        for line in listing.splitlines()
        if str(directory) in line and Path(line.split()[0]).name in ("etcd", "kube-apiserver")
    ]


def test_up_prints_the_kubeconfig_and_down_leaves_nothing(engine_bin: Path, tmp_path: Path) -> None:
    folder = tmp_path / "kube"
    up = run_script("local_cluster.py", "up", "--dir", str(folder), timeout=180)
    assert up.returncode == 0, up.stderr
    kubeconfig = Path(up.stdout.strip().splitlines()[-1])
    assert kubeconfig == folder / "kubeconfig" and kubeconfig.is_file()
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"  # it holds the admin token
    assert len(processes_under(folder)) == 2
    down = run_script("local_cluster.py", "down", "--dir", str(folder))
    assert down.returncode == 0, down.stderr
    assert processes_under(folder) == []
    assert list(folder.iterdir()) == []


def test_sigterm_during_up_leaves_no_process_and_no_data(engine_bin: Path, tmp_path: Path) -> None:
    folder = tmp_path / "kube"
    command = [sys.executable, str(SCRIPTS / "local_cluster.py"), "up", "--dir", str(folder)]
    starting = subprocess.Popen(command, env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(processes_under(folder)) < 2:  # stop it once both servers run
        time.sleep(0.1)
    starting.send_signal(signal.SIGTERM)
    _, stderr = starting.communicate(timeout=60)
    assert starting.returncode == 2, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    time.sleep(0.5)
    assert processes_under(folder) == []
    assert list(folder.iterdir()) == []


def test_up_refuses_a_folder_in_use(engine_bin: Path, tmp_path: Path) -> None:
    folder = tmp_path / "kube"
    folder.mkdir()
    (folder / "something").write_text("mine")
    refused = run_script("local_cluster.py", "up", "--dir", str(folder))
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"error: {folder} is not empty: give a new folder, or stop what runs there first"
    assert (folder / "something").read_text() == "mine"


def test_engine_tools_path_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in script_env().items() if k != BIN_DIR_ENV}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    result = run_script("engine_tools.py", "path", env=env)
    assert result.returncode == 1
    assert "not built: pulumi, pulumi-resource-kubernetes, etcd, kube-apiserver" in result.stderr
    assert "uv run scripts/engine_tools.py build" in result.stderr


def test_engine_tools_path_prints_the_built_folder(engine_bin: Path) -> None:
    result = run_script("engine_tools.py", "path", env={**script_env(), **_bin_env(engine_bin)})
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == engine_bin


def _bin_env(engine_bin: Path) -> dict[str, str]:
    return {BIN_DIR_ENV: os.environ[BIN_DIR_ENV]} if BIN_DIR_ENV in os.environ else {}
