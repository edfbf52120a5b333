"""Where the node reports live: ``<mirror-agent's namespace>-reports`` unless
``--reports-namespace`` says otherwise, on every command that writes or reads reports; a
name that cannot be a namespace is bad input (exit 2) before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.commands.daemon import Agent
from agent.errors import ExitCode, UsageError
from agent.kube.contract import reports_namespace
from tests.unit.cli import DIGEST, run

LONG = "n" * 56  # a valid namespace whose "-reports" name would be 64 characters


def test_the_reports_namespace_is_derived_or_given() -> None:
    assert reports_namespace("mirror-agent") == "mirror-agent-reports"
    assert reports_namespace("ops") == "ops-reports"
    assert reports_namespace("mirror-agent", "elsewhere") == "elsewhere"
    assert reports_namespace(LONG, "short") == "short"  # the derived name is not needed
    assert reports_namespace("n" * 55) == "n" * 55 + "-reports"  # 63 characters: fits


@pytest.mark.parametrize("namespace", [LONG, "Mirror-Agent", "mirror_agent", "mirror.agent", ""])
def test_a_derived_name_that_is_no_namespace_name_is_bad_input(namespace: str) -> None:
    with pytest.raises(UsageError) as bad:
        reports_namespace(namespace)
    assert bad.value.exit_code == ExitCode.BAD_INPUT
    assert repr(namespace + "-reports") in str(bad.value)
    assert "--reports-namespace" in (bad.value.hint or "")


@pytest.mark.parametrize("given", ["", "Reports", "-reports", "reports-", "a.b", "r" * 64, "r\n"])
def test_a_given_name_that_is_no_namespace_name_is_bad_input(given: str) -> None:
    with pytest.raises(UsageError) as bad:
        reports_namespace("mirror-agent", given)
    assert str(bad.value).startswith(f"--reports-namespace {given!r}: not a namespace name")


def _kubeconfig(tmp_path: Path, namespace: str = "mirror-agent") -> Path:
    """A kubeconfig whose server does not answer: a command that got as far as a request
    would end with 69 (unreachable), not 2."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        f"contexts: [{{name: c, context: {{cluster: c, user: u, namespace: {namespace}}}}}]\n"
    )
    return kubeconfig


def _commands(tmp_path: Path, host: Path) -> dict[str, list[str]]:
    kubeconfig = ["--kubeconfig", str(_kubeconfig(tmp_path))]
    release = f"quay.io/openshift-release-dev/ocp-release@{DIGEST}"
    objects = tmp_path / "idms.yaml"
    objects.write_text(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
        "metadata: {name: x}\nspec: {imageDigestMirrors: [{source: a.example.com/x, "
        "mirrors: [m.example.com/x]}]}\n"
    )
    return {
        "run": ["run", *kubeconfig, "--host-root", str(host), "--node", "worker-0",
                "--image", f"registry.example.com/team/app@{DIGEST}"],
        "collect": ["collect", *kubeconfig],
        "collect --serve-metrics": ["collect", *kubeconfig, "--serve-metrics", "127.0.0.1:9321"],
        "checklist pre-upgrade": ["checklist", "pre-upgrade", *kubeconfig, "--to-image", release],
        "checklist post-upgrade": ["checklist", "post-upgrade", *kubeconfig],
        "plan --from-reports": ["plan", *kubeconfig, "-f", str(objects), "--from-reports"],
        "plan --probe-on-nodes": ["plan", *kubeconfig, "-f", str(objects), "--probe-on-nodes"],
    }  # fmt: skip


@pytest.fixture
def requests_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every API request a command makes, none answered (Unreachable: exit 69)."""
    from agent.kube.client import KubeClient, Unreachable

    made: list[str] = []

    def no_api(self: KubeClient, method: str, path: str, **kwargs: Any) -> Any:
        made.append(f"{method} {path}")
        raise Unreachable(f"{method} {path}: no API server in this test")

    monkeypatch.setattr(KubeClient, "request", no_api)
    return made


COMMANDS = [
    "run",
    "collect",
    "collect --serve-metrics",
    "checklist pre-upgrade",
    "checklist post-upgrade",
    "plan --from-reports",
    "plan --probe-on-nodes",
]


def test_the_table_names_every_command(host: Path, tmp_path: Path) -> None:
    assert list(_commands(tmp_path, host)) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_reader_and_the_writer_refuse_a_bad_derived_name_before_any_request(
    command: str, host: Path, tmp_path: Path, capsys: Any, requests_made: list[str]
) -> None:
    argv = _commands(tmp_path, host)[command]
    code, _, err = run(capsys, *argv, "--namespace", LONG)
    assert code == ExitCode.BAD_INPUT, err
    assert requests_made == []
    assert repr(LONG + "-reports") in err and "--reports-namespace" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_reader_and_the_writer_refuse_a_bad_reports_namespace(
    command: str, host: Path, tmp_path: Path, capsys: Any, requests_made: list[str]
) -> None:
    argv = _commands(tmp_path, host)[command]
    code, _, err = run(capsys, *argv, "--reports-namespace", "Reports_NS")
    assert code == ExitCode.BAD_INPUT, err
    assert requests_made == []
    assert "--reports-namespace 'Reports_NS': not a namespace name" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_given_reports_namespace_makes_any_namespace_usable(
    command: str,
    host: Path,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    requests_made: list[str],
) -> None:
    """With --reports-namespace, the long namespace is no longer refused: the command goes
    on to the API (none here: 69), or into its loop (run, the exporter)."""
    from agent.commands import exporter

    monkeypatch.setattr(Agent, "run_forever", lambda self, *, max_cycles=None: None)
    monkeypatch.setattr(exporter, "serve_metrics", lambda read, **kwargs: ExitCode.OK)
    argv = _commands(tmp_path, host)[command]
    code, _, err = run(capsys, *argv, "--namespace", LONG, "--reports-namespace", "short")
    assert code in (ExitCode.OK, ExitCode.ENVIRONMENT), err
    assert "not a namespace name" not in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ((), "mirror-agent-reports"),  # the kubeconfig's namespace + -reports
        (("--namespace", "ops"), "ops-reports"),
        (("--namespace", "ops", "--reports-namespace", "elsewhere"), "elsewhere"),
        (("--reports-namespace", "elsewhere"), "elsewhere"),
    ],
)
def test_agent_run_publishes_where_the_options_say(
    extra: tuple[str, ...],
    expected: str,
    host: Path,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    def loop(self: Agent, *, max_cycles: Any = None) -> None:
        seen.append(self.settings.reports_namespace)

    monkeypatch.setattr(Agent, "run_forever", loop)
    argv = _commands(tmp_path, host)["run"]
    code, _, err = run(capsys, *argv, *extra)
    assert code == ExitCode.OK, err
    assert seen == [expected]


def test_agent_run_in_a_pod_derives_from_its_own_namespace(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No kubeconfig, no --namespace: the pod's namespace (POD_NAMESPACE here; the service
    account's namespace file first when there is one) + -reports."""
    from agent.commands import run as agent_run
    from agent.kube.config import ClusterConfig

    seen: list[str] = []
    monkeypatch.setattr(
        Agent, "run_forever", lambda self, *, max_cycles=None: seen.append(
            self.settings.reports_namespace
        ),
    )  # fmt: skip
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("POD_NAMESPACE", "tools")
    monkeypatch.setattr(agent_run, "SERVICE_ACCOUNT", tmp_path / "no-account")
    monkeypatch.setattr(
        agent_run, "in_cluster", lambda env: ClusterConfig(server="https://127.0.0.1:9")
    )
    argv = ["run", "--host-root", str(host), "--node", "worker-0"]
    code, _, err = run(capsys, *argv, "--image", f"registry.example.com/team/app@{DIGEST}")
    assert code == ExitCode.OK, err
    assert seen == ["tools-reports"]


def _unused_here(tmp_path: Path) -> dict[str, list[str]]:
    """Commands that take --reports-namespace but, as given, read no report from the API."""
    commands = _commands(tmp_path, tmp_path)
    reports = tmp_path / "reports.json"
    reports.write_text('{"apiVersion": "v1", "kind": "ConfigMapList", "items": []}')
    registries = tmp_path / "registries.conf"
    registries.write_text("")
    return {
        # no API: the current state is a registries.conf, the images given
        "plan": [
            "plan",
            *commands["plan --from-reports"][3:-1],
            "--registries-conf",
            str(registries),
            "--image",
            f"a.example.com/x@{DIGEST}",
        ],
        "collect --from-file": ["collect", "--from-file", str(reports)],
    }


@pytest.mark.parametrize("command", ["plan", "collect --from-file"])
@pytest.mark.parametrize("place", ["after", "before"])
def test_a_bad_reports_namespace_is_refused_where_it_is_not_used_too(
    command: str, place: str, tmp_path: Path, capsys: Any, requests_made: list[str]
) -> None:
    """docs/commands.md: a given --reports-namespace that is no namespace name is exit 2
    before any request, whatever else the command line says."""
    argv = _unused_here(tmp_path)[command]
    assert run(capsys, *argv)[0] in (ExitCode.OK, ExitCode.VERIFICATION_FAILED)  # fine without it
    flag = ["--reports-namespace", "Reports_NS"]
    code, _, err = run(capsys, *(argv + flag if place == "after" else flag + argv))
    assert code == ExitCode.BAD_INPUT, err
    assert requests_made == []
    assert "--reports-namespace 'Reports_NS': not a namespace name" in err
