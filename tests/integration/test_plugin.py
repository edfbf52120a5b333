"""The kubectl/oc plugin: installing the package puts ``kubectl-mirror_agent`` on PATH, and
the real kubectl runs it as ``kubectl mirror-agent`` (oc finds plugins the same way),
with the kubeconfig, ``--context`` and ``-n`` as kubectl users expect."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.kube.publish import report_configmap
from agent.report import CheckReport, ImageResult, timestamp
from tests.support.fake_apiserver import FakeApiServer

VENV_BIN = Path(sys.executable).parent
KUBECTL = "/usr/bin/kubectl"


def plugin_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # only the venv's bin and the system's: the plugin is found by name on PATH
    return {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), **extra}


def kubectl(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert shutil.which("kubectl", path="/usr/bin"), "kubectl must be at /usr/bin/kubectl"
    return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        fake.add_namespace("mirrors")
        fake.add_namespace("mirrors-reports")  # -n mirrors: its reports' namespace
        fake.add_node("worker-0")
        report = CheckReport(
            node="worker-0", checked_at=timestamp(), verdict="pass",
            images=(ImageResult(image="q.io/a@sha256:" + "a" * 64, verdict="pass",
                                served_by="m.example/a", served_by_kind="mirror"),),
        )  # fmt: skip
        fake.put(report_configmap(report, namespace="mirrors-reports", node=None))
        yield fake


def test_kubectl_finds_the_plugin_by_name(tmp_path: Path) -> None:
    assert (VENV_BIN / "kubectl-mirror_agent").is_file()
    listed = kubectl(["plugin", "list"], plugin_env(tmp_path))
    assert str(VENV_BIN / "kubectl-mirror_agent") in listed.stdout, listed.stderr
    shown = kubectl(["mirror-agent", "--help"], plugin_env(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "Usage: kubectl mirror-agent" in shown.stdout
    for command in ("collect", "recheck", "checklist"):
        assert command in shown.stdout


def test_collect_through_kubectl_with_kubeconfig_context_and_namespace(
    server: FakeApiServer, tmp_path: Path
) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    env = plugin_env(tmp_path, KUBECONFIG=str(kubeconfig))
    done = kubectl(
        ["mirror-agent", "collect", "--context", "fake", "-n", "mirrors", "-o", "json"], env
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["summary"]["expected"] == 1 and summary["summary"]["pass"] == 1
    # an unknown context is the user's mistake, said as such
    wrong = kubectl(["mirror-agent", "collect", "--context", "nope", "-n", "mirrors"], env)
    assert wrong.returncode == 2 and "nope" in wrong.stderr
    # --kubeconfig works as well as KUBECONFIG
    explicit = kubectl(
        ["mirror-agent", "collect", "--kubeconfig", str(kubeconfig), "-n", "mirrors"],
        plugin_env(tmp_path),
    )
    assert explicit.returncode == 0, explicit.stderr
    assert "overall: OK" in explicit.stdout


def test_cluster_flags_before_the_subcommand_as_kubectl_users_type_them(
    server: FakeApiServer, tmp_path: Path
) -> None:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    env = plugin_env(tmp_path)
    done = kubectl(
        ["mirror-agent", "-n", "mirrors", "--kubeconfig", str(kubeconfig), "--context", "fake",
         "collect", "-o", "json"],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["summary"]["expected"] == 1 and summary["summary"]["pass"] == 1
    # the namespace reached collect: the reports are not in the default one
    elsewhere = kubectl(
        ["mirror-agent", "--kubeconfig", str(kubeconfig), "collect", "-o", "json"], env
    )
    assert json.loads(elsewhere.stdout)["summary"].get("pass", 0) == 0, elsewhere.stderr
    # --reports-namespace before the subcommand reaches it too
    given = kubectl(
        ["mirror-agent", "--reports-namespace", "mirrors-reports", "--kubeconfig",
         str(kubeconfig), "collect", "-o", "json"],
        env,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout)["summary"]["pass"] == 1
