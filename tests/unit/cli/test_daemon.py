"""agent run and agent health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.commands import daemon
from agent.commands import run as agent_run
from agent.commands.daemon import Agent
from agent.errors import ExitCode
from tests.unit.cli import DIGEST, run


def _kubeconfig(tmp_path: Path) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: mirror-agent}}]\n"
    )
    return kubeconfig


def run_agent(
    capsys: pytest.CaptureFixture[str], host: Path, tmp_path: Path, *extra: str
) -> tuple[int, str, str]:
    """``agent run`` for worker-0 with a kubeconfig (its loop is replaced by each test)."""
    argv = ["run", "--kubeconfig", str(_kubeconfig(tmp_path)), "--host-root", str(host)]
    argv += ["--node", "worker-0", "--image", f"registry.example.com/team/app@{DIGEST}"]
    return run(capsys, *argv, "--log-format", "json", *extra)


def test_run_stopped_while_publishing_says_the_report_may_be_missing(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.process import Terminated

    def stopped_mid_publish(self: Agent, *, max_cycles: Any = None) -> None:
        self.publisher.pending = object()  # type: ignore[assignment]
        raise Terminated()

    monkeypatch.setattr(Agent, "run_forever", stopped_mid_publish)
    code, out, _ = run_agent(capsys, host, tmp_path)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [event["event"] for event in events] == ["terminated", "unpublished"]
    assert "may not have arrived" in events[1]["error"]


def test_run_with_cycles_whose_report_was_not_published_exits_69(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    def ended_unpublished(self: Agent, *, max_cycles: Any = None) -> None:
        assert max_cycles == 1
        self.publisher.pending = object()  # type: ignore[assignment]
        self.publisher.last_error = "503 ServiceUnavailable"

    monkeypatch.setattr(Agent, "run_forever", ended_unpublished)
    code, out, _ = run_agent(capsys, host, tmp_path, "--cycles", "1")
    assert code == ExitCode.ENVIRONMENT
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["event"] == "unpublished" and "503" in event["error"]


def test_run_finishes_removing_a_scratch_store_before_sigterm_ends_it(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent run must not set a SIGTERM handler of its own: it would cut the cleanup of a
    scratch store short and leave it (with whatever is mounted in it) on the node."""
    import signal

    from agent.pull.runner import NodeRunner
    from tests.support.stops import signal_during_removal

    (host / "var" / "tmp").mkdir(parents=True)

    def one_scratch_pull(self: Agent, *, max_cycles: Any = None) -> None:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with self.node_runner().scratch_store():
            pass

    removed = signal_during_removal(monkeypatch, signal.SIGTERM)  # the kubelet stops the pod
    monkeypatch.setattr(NodeRunner, "check_free_space", lambda self, held=0: None)
    monkeypatch.setattr(Agent, "run_forever", one_scratch_pull)
    code, out, err = run_agent(capsys, host, tmp_path)
    assert code == 0, err
    assert removed == [True]
    assert list((host / "var" / "tmp").iterdir()) == []
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["terminated"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_run_outside_a_pod_takes_the_kubeconfig_from_the_environment(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent run --help says --kubeconfig defaults to KUBECONFIG; it did not."""
    served: list[tuple[str, str]] = []

    def serve(settings: daemon.RunSettings, runner: Any, client: Any, **_: Any) -> ExitCode:
        served.append((client.config.server, settings.reports_namespace))
        return ExitCode.OK

    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path)))
    monkeypatch.setattr(agent_run, "serve", serve)
    code, _, err = run(
        capsys,
        "run",
        "--host-root",
        str(host),
        "--node",
        "worker-0",
        "--image",
        f"registry.example.com/team/app@{DIGEST}",
    )
    assert code == 0, err
    # the context's namespace, mirror-agent, + -reports
    assert served == [("https://127.0.0.1:9", "mirror-agent-reports")]


def test_run_without_kubeconfig_outside_a_pod_is_bad_input(
    host: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = run(capsys, "run", "--host-root", str(host), "--node", "worker-0")
    assert code == ExitCode.BAD_INPUT
    assert "not running in a pod" in err and "KUBECONFIG" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--interval", "soon"), ("--jitter", "-1s"), ("--poll", "0"), ("--log-format", "yaml")],
)
def test_run_refuses_a_bad_option_before_it_looks_for_the_cluster(
    host: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, option: str, value: str
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = run(capsys, "run", "--host-root", str(host), "--node", "w", option, value)
    assert code == ExitCode.BAD_INPUT
    assert option in err and "not running in a pod" not in err


def test_health_follows_the_age_of_the_heartbeat(tmp_path: Path, capsys: Any) -> None:
    import os
    import time

    heartbeat = tmp_path / "heartbeat"
    code, _, err = run(capsys, "health", "--heartbeat-file", str(heartbeat))
    assert (code, err) == (
        ExitCode.VERIFICATION_FAILED,
        f"unhealthy: heartbeat {heartbeat} is missing\n",
    )
    heartbeat.write_text("now\n")
    assert run(capsys, "health", "--heartbeat-file", str(heartbeat))[0] == ExitCode.OK
    an_hour_ago = time.time() - 3600
    os.utime(heartbeat, (an_hour_ago, an_hour_ago))
    code, _, err = run(capsys, "health", "--heartbeat-file", str(heartbeat), "--max-age", "15m")
    assert code == ExitCode.VERIFICATION_FAILED and "s old" in err
    assert run(capsys, "health", "--heartbeat-file", str(heartbeat), "--max-age", "2h")[0] == 0
    code, _, err = run(capsys, "health", "--heartbeat-file", str(heartbeat), "--max-age", "x")
    assert code == ExitCode.BAD_INPUT and "--max-age" in err


def test_run_passes_parallel_to_every_check(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    def serve(settings: daemon.RunSettings, *args: Any, **kwargs: Any) -> ExitCode:
        seen.append(settings.parallel)
        return ExitCode.OK

    monkeypatch.setattr(agent_run, "serve", serve)
    code, _, err = run_agent(capsys, host, tmp_path, "--parallel", "5")
    assert code == 0, err
    code, _, err = run_agent(capsys, host, tmp_path)
    assert code == 0, err
    assert seen == [5, None]  # None: the per-method defaults
    code, _, err = run_agent(capsys, host, tmp_path, "--parallel", "0")
    assert code == ExitCode.BAD_INPUT and "--parallel" in err
