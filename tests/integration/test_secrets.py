"""No secret leaves the node: a mirror that echoes the credentials it was sent.

A registry on 127.0.0.1 answers every authenticated manifest request with a 403 whose
error body quotes the decoded ``user:password`` and its base64 (as some proxies and
misconfigured registries do). The node's pull secret (the kubelet's config.json) holds
those credentials. ``agent check`` (every output format) and ``agent run`` (the
published ConfigMap and the log lines) must show neither.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_apiserver import FakeApiServer
from tests.support.hostroot import build_host_root, run_in_host_root
from tests.support.lab import Lab, Registry

AGENT = Path(sys.executable).with_name("agent")
# Shapes that no pattern of the log redaction recognises: only the exact-value redaction
# built from the node's pull secret can catch them.
USER, PASSWORD = "echo-puller", "Pa55-echo-w0rd"
PAIR = f"{USER}:{PASSWORD}"
PAIR_BASE64 = base64.b64encode(PAIR.encode()).decode()


class _EchoHandler(BaseHTTPRequestHandler):
    """``/v2/``: a Basic challenge; anything sent with credentials: 403 quoting them."""

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        sent = self.headers.get("Authorization", "")
        if not sent:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="echo"')
            self.send_header("Content-Type", "application/json")
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        else:
            encoded = sent.partition(" ")[2]
            decoded = base64.b64decode(encoded).decode(errors="replace")
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            message = f"user {decoded} (sent as {encoded}) may not pull; header was {sent}"
            body = json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET


@dataclass(frozen=True)
class World:
    lab: Lab
    source: Registry
    echo_host: str
    ref: str


@pytest.fixture(scope="module")
def echo_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def world(lab: Lab, echo_host: str) -> World:
    source = lab.start_registry("secrets-source")
    image = lab.build_image("team/secret-app:1", size_bytes=4096)
    digest = lab.push(image, source, "team/secret-app")
    return World(lab, source, echo_host, f"{source.host}/team/secret-app@{digest}")


def _host_root(world: World) -> Path:
    conf = {
        "unqualified-search-registries": [],
        "registry": [
            {
                "prefix": "",
                "location": f"{world.source.host}/team/secret-app",
                "insecure": True,
                "mirror": [{"location": f"{world.echo_host}/mirror/secret-app", "insecure": True}],
            }
        ],
    }
    return build_host_root(world.lab, conf, auth={world.echo_host: (USER, PASSWORD)})


def _assert_no_secret(text: str) -> None:
    for secret in (PAIR, PAIR_BASE64, PASSWORD, PAIR_BASE64.rstrip("=")):
        assert secret not in text, f"{secret!r} leaked:\n{text[:3000]}"


def _agent(world: World, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_in_host_root(root, [str(AGENT), *args], lab=world.lab, timeout=180)


def test_check_never_shows_the_credentials_a_mirror_echoes(world: World) -> None:
    root = _host_root(world)
    done = _agent(world, root, "check", "--host-root", str(root), "-i", world.ref, "-o", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (image,) = report["images"]
    first = image["attempts"][0]
    # the mirror was asked with the pull secret, refused, and its body was kept, redacted
    assert first["location"].startswith(world.echo_host)
    assert first["outcome"] == "failed"
    assert "may not pull" in first["message"] and "REDACTED" in first["message"]
    assert image["servedBy"] == world.ref
    _assert_no_secret(done.stdout + done.stderr)

    for output in ("table", "wide"):
        shown = _agent(
            world, root, "check", "--host-root", str(root), "-i", world.ref, "-o", output
        )
        assert shown.returncode == 0, shown.stderr
        assert "REDACTED" in shown.stdout or output == "table"
        _assert_no_secret(shown.stdout + shown.stderr)


def test_agent_run_publishes_and_logs_no_credentials(world: World, tmp_path: Path) -> None:
    root = _host_root(world)
    with FakeApiServer(token="t") as server:
        server.add_namespace("mirror-agent")
        server.add_namespace("mirror-agent-reports")
        server.add_node("worker-0")
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="mirror-agent")
        done = _agent(
            world,
            root,
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--host-root",
            str(root),
            "--node",
            "worker-0",
            "--image",
            world.ref,
            "--jitter",
            "0s",
            "--cycles",
            "1",
            "--log-format",
            "json",
        )
        published = server.get_object(
            "ConfigMap", "mirror-agent-report-worker-0", "mirror-agent-reports"
        )
    assert done.returncode == 0, done.stderr
    assert published is not None
    text = published["data"]["report.json"]
    report = json.loads(text)
    assert report["images"][0]["attempts"][0]["outcome"] == "failed"
    assert "REDACTED" in text
    _assert_no_secret(json.dumps(published) + done.stdout + done.stderr)
