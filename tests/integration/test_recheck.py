"""``agent recheck`` end to end: a real ``agent run`` process against the fake API server
checks again when the request reaches its mounted checks folder, names the request in its
report, and ``agent collect`` tells which nodes have checked since."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from agent.cli.app import main
from agent.kube.contract import (
    CHECKS_CONFIGMAP,
    IMAGES_KEY,
    RECHECK_FIELD_MANAGER,
    RECHECK_KEY,
    recheck_requests,
)
from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where agent run publishes (NS + -reports)
NODE = "worker-0"
IMAGE = "x.example.com/a@sha256:" + "b" * 64
WAIT = 60.0


def kubelet_sync(server: FakeApiServer, folder: Path) -> None:
    """What the kubelet does for a ConfigMap volume, at its next sync: one file per key."""
    checks = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
    assert checks is not None
    for key, value in (checks.get("data") or {}).items():
        (folder / key).write_text(value)


def wait_for(what: str, probe: Callable[[], Any], log: list[str]) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"no {what} within {WAIT}s; agent run said:\n{''.join(log)}")


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        fake.add_namespace(NS)
        fake.add_namespace(REPORTS_NS)
        fake.add_node(NODE)
        fake.add_node("worker-1")  # runs no agent here: it never checks
        fake.put({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CHECKS_CONFIGMAP, "namespace": NS},
            "data": {IMAGES_KEY: IMAGE + "\n"},
        })  # fmt: skip
        yield fake


def collect_json(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["collect", "--kubeconfig", str(kubeconfig), "-n", NS, "-o", "json"])
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_recheck_end_to_end(
    server: FakeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    mounted = tmp_path / "checks"
    mounted.mkdir()
    kubelet_sync(server, mounted)
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text("")
    argv = [sys.executable, "-m", "agent", "run", "--kubeconfig", str(kubeconfig), "-n", NS]
    argv += ["--host-root", str(root), "--images-file", str(mounted / IMAGES_KEY)]
    argv += ["--jitter", "0s", "--poll", "1s", "--log-format", "json"]
    env = {**os.environ, "NODE_NAME": NODE, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)  # fmt: skip
    log: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        log.extend(process.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def checks() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in list(log) if line.startswith("{")]
        return [line for line in lines if line["event"] == "check"]

    def report() -> dict[str, Any]:
        stored = server.get_object("ConfigMap", f"mirror-agent-report-{NODE}", REPORTS_NS)
        return json.loads(stored["data"]["report.json"]) if stored else {}

    try:
        wait_for("first check", lambda: checks(), log)
        assert checks()[0]["reason"] == "start"

        # every node: the request is in the ConfigMap, under its own field manager
        capsys.readouterr()
        assert main(["recheck", "--kubeconfig", str(kubeconfig), "-n", NS]) == 0
        said = capsys.readouterr().out
        assert "requested for every node" in said and "kubelet" in said
        stored = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
        assert stored is not None and stored["data"][IMAGES_KEY] == IMAGE + "\n"
        request = recheck_requests(stored["data"][RECHECK_KEY])["all"]
        managers = {e["manager"]: e for e in stored["metadata"]["managedFields"]}
        assert f"f:{RECHECK_KEY}" in json.dumps(managers[RECHECK_FIELD_MANAGER]["fieldsV1"])
        summary = collect_json(kubeconfig, capsys)
        (progress,) = summary["recheck"]
        assert progress["id"] == request["id"] and progress["checked"] == []
        assert progress["waiting"] == [NODE, "worker-1"]

        # nothing happens until the kubelet refreshes the mounted folder
        time.sleep(2.5)
        assert len(checks()) == 1
        kubelet_sync(server, mounted)
        wait_for("a check after the recheck", lambda: len(checks()) >= 2, log)
        assert checks()[1]["reason"] == "recheck requested"
        wait_for("the report naming the request",
                 lambda: report().get("recheck") == {"all": request["id"]}, log)  # fmt: skip
        (progress,) = collect_json(kubeconfig, capsys)["recheck"]
        assert progress["checked"] == [NODE] and progress["waiting"] == ["worker-1"]
        capsys.readouterr()
        main(["collect", "--kubeconfig", str(kubeconfig), "-n", NS])
        table = capsys.readouterr().out
        assert f"recheck {request['id']} (every node, requested " in table
        assert "1 of 2 node(s) have checked since; waiting: worker-1" in table

        # one node: the earlier request for every node stays
        assert main(["recheck", "--node", NODE, "--kubeconfig", str(kubeconfig), "-n", NS]) == 0
        stored = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
        requests = recheck_requests(stored["data"][RECHECK_KEY])
        assert requests["all"] == request and NODE in requests
        kubelet_sync(server, mounted)
        wait_for("a check for the node's request", lambda: len(checks()) >= 3, log)
        assert checks()[2]["reason"] == "recheck requested"
        seen = {"all": request["id"], "node": requests[NODE]["id"]}
        wait_for("the report naming both", lambda: report().get("recheck") == seen, log)
        # unchanged requests trigger nothing more
        time.sleep(2.5)
        assert len(checks()) == 3
    finally:
        process.terminate()
        process.wait(timeout=15)
        reader.join(timeout=5)


def test_recheck_refuses_an_unknown_node_and_a_missing_configmap(
    server: FakeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    code = main(["recheck", "--node", "nope", "--kubeconfig", str(kubeconfig), "-n", NS])
    assert code == 2 and "--node nope: no such node" in capsys.readouterr().err
    server.delete_object("ConfigMap", CHECKS_CONFIGMAP, NS)
    code = main(["recheck", "--kubeconfig", str(kubeconfig), "-n", NS])
    err = capsys.readouterr().err
    assert code == 69 and f"no ConfigMap {CHECKS_CONFIGMAP} in namespace {NS}" in err
