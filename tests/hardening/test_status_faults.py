"""status.py against a Kubernetes API server that answers as a broken or hostile one would.

The server is a TLS stand-in with its own CA and a bearer-token kubeconfig (the shape a k3s kubeconfig
has). Odd objects make an UNHEALTHY report naming what is wrong, never a traceback; an answer too large,
too deep or a redirect is one `error:` line; and the token never travels to where a redirect points.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from statehub.data.ephemeral import free_port
from statehub.engine.pki import Client, make_pki
from statehub.policy.report import parse_report
from tests.hostile_api import hostile_api
from tests.script_runner import run_script

CLUSTER_PATH = "/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters/state-hub-db"
ODD_ITEMS = [
    1,
    "pod",
    {"metadata": {}},
    {"spec": [], "status": {"phase": "completed", "stoppedAt": "yesterday"}},
    {"metadata": {"name": 7}, "status": {"containerStatuses": "ready", "phase": ["Running"]}},
]
ANSWERS: dict[str, tuple[dict[str, object], object]] = {
    "a Cluster without spec or status": ({CLUSTER_PATH: {"kind": "Cluster"}}, {"items": []}),
    "odd types everywhere": (
        {
            CLUSTER_PATH: {
                "kind": "Cluster",
                "spec": {"instances": "many", "plugins": [1]},
                "status": {"phase": 5, "conditions": "none", "readyInstances": -3},
            }
        },
        {"items": ODD_ITEMS},
    ),
    "items that is not a list": (
        {CLUSTER_PATH: {"kind": "Cluster", "spec": {"instances": 1, "plugins": [{"name": "barman"}]}}},
        {"items": {"a": 1}},
    ),
}


@contextmanager
def kube_api(tmp: Path, answer: object) -> Iterator[tuple[Path, list[str]]]:
    """A TLS API server answering `answer` (a path map with a default, or one of 'huge', 'deep', 'redirect:URL');
    yields the kubeconfig and the paths asked."""
    port = free_port()
    pki = make_pki(
        tmp / "pki",
        node_ip="127.0.0.1",
        node_name="n",
        service_ip="10.43.0.1",
        port=port,
        clients=(Client("operator", "operator"),),
    )
    asked: list[str] = []
    stopping = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            try:
                if answer == "huge":
                    self._head(200, 400 * 2**20)
                    while not stopping.is_set():
                        self.wfile.write(b"[0," * 20000)
                elif answer == "deep":
                    self._send(200, b"[" * 100_000 + b"]" * 100_000)
                elif isinstance(answer, str) and answer.startswith("redirect:"):
                    self.send_response(302)
                    self.send_header("Location", answer.removeprefix("redirect:") + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    assert isinstance(answer, tuple)
                    paths, default = answer
                    self._send(200, json.dumps(paths.get(self.path.split("?")[0], default)).encode())
            except OSError:
                pass

        def _head(self, status: int, length: int) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _send(self, status: int, data: bytes) -> None:
            self._head(status, len(data))
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("apiserver.crt"), pki.path("apiserver.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield pki.kubeconfig("operator"), asked
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("case", list(ANSWERS))
def test_odd_objects_are_an_unhealthy_report_not_a_traceback(tmp_path: Path, case: str) -> None:
    with kube_api(tmp_path, ANSWERS[case]) as (kubeconfig, asked):
        done = run_script(
            "status.py", "--kubeconfig", str(kubeconfig), "--report", str(tmp_path / "s.json"), timeout=60
        )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    assert "UNHEALTHY" in done.stderr
    report = parse_report((tmp_path / "s.json").read_bytes())
    assert report.result == "fail" and report.details["problems"]
    assert CLUSTER_PATH in asked


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("huge", "larger than 16 MiB"), ("deep", "nested deeper than 64 levels")],
)
def test_an_answer_too_large_or_too_deep_is_one_line(tmp_path: Path, answer: str, expected: str) -> None:
    started = time.monotonic()
    with kube_api(tmp_path, answer) as (kubeconfig, _):
        done = run_script("status.py", "--kubeconfig", str(kubeconfig), timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert expected in lines[0]
    assert time.monotonic() - started < 30


def test_a_redirect_is_not_followed_and_the_token_stays(tmp_path: Path) -> None:
    with hostile_api("hang") as elsewhere, kube_api(tmp_path, f"redirect:{elsewhere.url}") as (kubeconfig, asked):
        done = run_script("status.py", "--kubeconfig", str(kubeconfig), timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "redirects; not followed" in lines[0]
    assert asked and not elsewhere.asked.is_set()
    token = (tmp_path / "pki" / "operator.token").read_text().strip()
    assert token not in done.stderr
