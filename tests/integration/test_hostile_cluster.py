"""Malformed report ConfigMaps in a cluster (issue 10 §1): ``agent collect`` against the
fake API server, as a process, shows an ``invalid-report`` row for each and summarises
every other node."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.fake_apiserver import FakeApiServer

AGENT = Path(sys.executable).with_name("agent")
LABELS = {"app.kubernetes.io/name": "mirror-agent", "app.kubernetes.io/component": "report"}


def _configmap(name: str, text: str, node: Any = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name, "namespace": "mirror-agent-reports", "labels": LABELS
    }  # fmt: skip
    if node is not None:
        metadata["annotations"] = {"mirror-agent.io/node": node}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {"report.json": text},
    }


def test_collect_from_a_cluster_with_malformed_reports(tmp_path: Path) -> None:
    good = {
        "schemaVersion": 1,
        "node": "worker-0",
        "checkedAt": "2099-01-01T00:00:00Z",
        "verdict": "pass",
        "images": [],
    }
    with FakeApiServer(token="t") as server:
        server.add_namespace("mirror-agent")
        server.add_namespace("mirror-agent-reports")
        for name in ("worker-0", "worker-1", "worker-2", "worker-3"):
            server.add_node(name)
        server.put(_configmap("mirror-agent-report-worker-0", json.dumps(good), "worker-0"))
        server.put(_configmap("mirror-agent-report-worker-1", "[1,2]", "worker-1"))
        server.put(
            _configmap(
                "mirror-agent-report-worker-2", json.dumps({**good, "node": 12345}), "worker-2"
            )
        )
        server.put(_configmap("mirror-agent-report-worker-3", "[" * 50_000, "worker-3"))
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="mirror-agent")
        argv = [str(AGENT), "collect", "--kubeconfig", str(kubeconfig), "-o", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    rows = {row["node"]: row for row in json.loads(done.stdout)["nodes"]}
    assert rows["worker-0"]["verdict"] == "pass"
    for node, named in (
        ("worker-1", "must be a JSON object"),
        ("worker-2", "node must be a string"),
        ("worker-3", "nested more than 100 levels"),
    ):
        assert rows[node]["verdict"] == "error"
        assert rows[node]["findings"][0].startswith("invalid-report:")
        assert named in rows[node]["findings"][0], rows[node]
