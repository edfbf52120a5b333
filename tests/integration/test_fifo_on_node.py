"""A FIFO where the node has a configuration file blocks no command (issue 10 §1): the
real ``agent`` processes, each under a guard timeout that fails the test as a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where agent run publishes (NS + -reports)
HANG_GUARD = 60.0  # seconds: far above either case (each ends in a few seconds)
IMAGE = "x.example.com/a@sha256:" + "b" * 64
MIRRORED = """
[[registry]]
prefix = "quay.io/team"
location = "quay.io/team"
[[registry.mirror]]
location = "mirror.example.com/team"
"""


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        fake.add_namespace(NS)
        fake.add_namespace(REPORTS_NS)
        yield fake


def host_root(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "etc/containers/registries.conf.d").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text(MIRRORED)
    return root


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODE_NAME": "worker-0", "PYTHONPATH": str(PROJECT_ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agent", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"agent {' '.join(args)} hung (killed after {HANG_GUARD}s)")
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_agent_run_with_a_fifo_drop_in_publishes_a_report_naming_it(
    server: FakeApiServer, tmp_path: Path
) -> None:
    server.add_node("worker-0")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    root = host_root(tmp_path)
    os.mkfifo(root / "etc/containers/registries.conf.d/x.conf")
    done = agent(
        "run", "--kubeconfig", str(kubeconfig), "--host-root", str(root), "--image", IMAGE,
        "--jitter", "0s", "--poll", "1s", "--cycles", "1", "--log-format", "json",
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    (checked,) = [event for event in events if event["event"] == "check"]
    assert checked["verdict"] == "fail" and checked["published"], done.stdout
    assert done.returncode == 0, done.stderr
    stored = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
    assert stored is not None
    report = json.loads(stored["data"]["report.json"])
    error = report["registriesConf"]["error"]
    assert error["file"].endswith("registries.conf.d/x.conf") and "FIFO" in error["message"]


def test_agent_check_auto_with_a_fifo_storage_conf_says_so(tmp_path: Path) -> None:
    root = host_root(tmp_path)
    os.mkfifo(root / "etc/containers/storage.conf")
    done = agent("check", "--auto", "--host-root", str(root), "--output", "json")
    report = json.loads(done.stdout)
    (finding,) = [f for f in report["findings"] if f["code"] == "auto-unavailable"]
    assert "storage.conf" in finding["message"] and "FIFO" in finding["message"]
    assert done.returncode == 1
