"""The application: usage errors, internal errors, the exit codes, --version."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from agent.commands import collect as collect_commands
from agent.commands import history as history_commands
from agent.errors import ExitCode
from agent.kube.client import Unreachable
from tests.support.fake_apiserver import FakeApiServer
from tests.unit.cli import run


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain"], "Missing argument"),
        (["explain", "a.b/c", "-o", "yaml"], "Invalid value"),
        (["explain", "a.b/c", "--podman-version", "latest"], "not a podman version"),
        (["explain", "a.b/c", "--host-root", "/nonexistent/dir"], "not a directory"),
        (["frobnicate"], "No such command"),
        (["explain", "-rm"], "No such option"),
    ],
)
def test_usage_errors_exit_2(capsys: Any, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_internal_error_is_a_message_not_a_traceback(
    host: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.output.registries

    def broken(*_: object) -> str:
        raise KeyError("boom")

    monkeypatch.setattr(agent.output.registries, "explain_table", broken)
    code, _, err = run(capsys, "explain", "a.b/c", "--host-root", str(host))
    assert code == 70
    assert "internal error: KeyError('boom')" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "--verbose", "explain", "a.b/c", "--host-root", str(host))
    assert code == 70 and "Traceback" in err


def test_version(capsys: Any) -> None:
    from agent import __version__

    assert run(capsys, "--version") == (0, f"mirror-agent {__version__}\n", "")


# --- what the agent needs is not available: ENVIRONMENT (69), not bad input (2) ---------------


@pytest.mark.parametrize(
    ("refuse", "message"),
    [
        (lambda server: server.rotate_token("another"), "401 Unauthorized"),
        (lambda server: server.deny("list", "configmaps"), "403 Forbidden"),
    ],
    ids=["login-refused", "permission-refused"],
)
def test_an_api_server_that_refuses_is_an_environment_failure(
    tmp_path: Path, capsys: Any, refuse: Callable[[FakeApiServer], None], message: str
) -> None:
    with FakeApiServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        refuse(server)
        code, out, err = run(capsys, "collect", "--kubeconfig", str(kubeconfig))
    assert code == ExitCode.ENVIRONMENT
    assert (out, err.startswith(f"error: {message}")) == ("", True), err


def test_an_unreachable_api_server_is_an_environment_failure(
    capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_: Any, **__: Any) -> None:
        raise Unreachable("cannot reach the Kubernetes API at https://10.0.0.1:6443")

    monkeypatch.setattr(collect_commands, "collect_from_cluster", unreachable)
    code, _, err = run(capsys, "collect")
    assert code == ExitCode.ENVIRONMENT
    assert err.startswith("error: cannot reach the Kubernetes API")


def test_a_tool_missing_on_the_node_is_an_environment_failure(tmp_path: Path, capsys: Any) -> None:
    """check --history runs journalctl in the node's root: an empty one has none (or, not
    as root, chroot is refused: an environment failure too)."""
    root = tmp_path / "host"
    (root / "etc" / "containers").mkdir(parents=True)
    code, out, err = run(capsys, "check", "--history", "--host-root", str(root))
    assert code == ExitCode.ENVIRONMENT
    assert out == ""
    assert "'journalctl'" in err or "cannot enter the node's filesystem" in err


def test_a_node_that_cannot_host_the_check_is_an_environment_failure(
    tmp_path: Path, capsys: Any
) -> None:
    root = tmp_path / "host"
    (root / "etc" / "mco" / "proxy.env").mkdir(parents=True)  # unreadable as a file
    argv = ["check", "--host-root", str(root), "--image", "a.example.com/b@sha256:" + "c" * 64]
    code, _, err = run(capsys, *argv)
    assert code == ExitCode.ENVIRONMENT
    assert "cannot read the node's proxy settings" in err


def test_a_registries_conf_the_agent_may_not_read_is_an_environment_failure(
    host: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = host / "etc/containers/registries.conf"
    real_open = os.open

    def refused(path: Any, *args: Any) -> int:
        if Path(path) == conf:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", refused)
    code, out, err = run(capsys, "config", "--host-root", str(host), "-o", "json")
    assert code == ExitCode.ENVIRONMENT
    assert json.loads(out)["error"]["kind"] == "file-unreadable"
    assert err.startswith(f"error: {conf}: cannot open: Permission denied")
    conf.write_text("[[registry]\n")  # a file it can read, but broken: bad input
    monkeypatch.undo()
    assert run(capsys, "config", "--host-root", str(host))[0] == ExitCode.BAD_INPUT


def test_a_refused_permission_anywhere_is_an_environment_failure(
    host: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: Any) -> None:
        raise PermissionError(13, "Permission denied", "/host/var/log/journal")

    monkeypatch.setattr(history_commands, "read_history", refused)
    code, out, err = run(capsys, "check", "--history", "--host-root", str(host))
    assert (code, out) == (ExitCode.ENVIRONMENT, "")
    assert err.startswith("error: permission denied: /host/var/log/journal\nhint: ")
    assert "Traceback" not in err and "internal error" not in err
