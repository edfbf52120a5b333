"""The command line: outputs, errors on stderr, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main

DIGEST = "sha256:" + "ab" * 32
CONF = """\
unqualified-search-registries = ["registry.example.com"]

[[registry]]
location = "registry.example.com/team"
mirror-by-digest-only = true

[[registry.mirror]]
location = "mirror.example.net/team"

[[registry.mirror]]
location = "backup.example.net:8443/team"
insecure = true

[[registry]]
location = "blocked.example.com"
blocked = true
"""


@pytest.fixture
def host(tmp_path: Path) -> Path:
    conf = tmp_path / "host" / "etc" / "containers" / "registries.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(CONF)
    return tmp_path / "host"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_explain_table_lists_sources_in_order(host: Path, capsys: Any) -> None:
    code, out, err = run(
        capsys, "explain", f"registry.example.com/team/app@{DIGEST}", "--host-root", str(host)
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    mirror = next(i for i, line in enumerate(lines) if "mirror.example.net/team/app@" in line)
    backup = next(i for i, line in enumerate(lines) if "backup.example.net:8443/team/app@" in line)
    source = next(i for i, line in enumerate(lines) if "  source  registry.example.com" in line)
    assert mirror < backup < source
    assert lines[backup].rstrip().endswith("insecure")
    assert "matched:    registry.example.com/team" in out


def test_explain_table_shows_skipped_mirrors_and_blocked_sources(host: Path, capsys: Any) -> None:
    code, out, _ = run(
        capsys,
        "explain",
        "registry.example.com/team/app:1",
        "blocked.example.com/x/y:2",
        "--host-root",
        str(host),
    )
    assert code == 0
    assert "skipped:    mirror.example.net/team/app:1  (mirror-by-digest-only" in out
    assert "BLOCKED by blocked.example.com" in out


def test_explain_json_document(host: Path, capsys: Any) -> None:
    code, out, _ = run(
        capsys,
        "explain",
        "registry.example.com/team/app:1@" + DIGEST,
        "--host-root",
        str(host),
        "-o",
        "json",
    )
    document = json.loads(out)
    assert code == 0
    assert document["schemaVersion"] == 1
    assert document["configuration"]["files"] == [str(host / "etc/containers/registries.conf")]
    assert document["configuration"]["fingerprint"].startswith("sha256:")
    (result,) = document["results"]
    assert result["normalized"] == f"registry.example.com/team/app@{DIGEST}"
    assert [(s["kind"], s["insecure"]) for s in result["pullSources"]] == [
        ("mirror", False),
        ("mirror", True),
        ("source", False),
    ]
    assert result["error"] is None


def test_short_name_candidates_in_json(host: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "explain", "team/app:1", "--host-root", str(host), "-o", "json")
    (result,) = json.loads(out)["results"]
    assert code == 0
    assert [c["reference"] for c in result["candidates"]] == ["registry.example.com/team/app:1"]
    assert result["candidates"][0]["matchedPrefix"] == "registry.example.com/team"


@pytest.mark.parametrize(
    ("reference", "kind", "stage"),
    [
        ("-rm", "invalid-reference", "reference"),
        ("Registry.example.com/Team/app", "invalid-reference", "reference"),
        (f"registry.example.com/team/app@sha256:{'ab' * 31}", "invalid-reference", "reference"),
    ],
)
def test_bad_reference_exits_2_and_still_reports_the_others(
    host: Path, capsys: Any, reference: str, kind: str, stage: str
) -> None:
    # After "--" even "-rm" reaches the reference parser (which refuses it).
    code, out, err = run(
        capsys,
        "explain",
        "--host-root",
        str(host),
        "-o",
        "json",
        "--",
        reference,
        "registry.example.com/team/ok:1",
    )
    assert code == 2
    bad, good = json.loads(out)["results"]
    assert (bad["error"]["kind"], bad["error"]["stage"]) == (kind, stage)
    assert json.dumps(reference)[1:-1] in json.dumps(bad["error"]["message"])
    assert good["error"] is None and len(good["pullSources"]) == 1
    assert f"error: {reference}:" in err


def test_rewrite_error_exits_2(tmp_path: Path, capsys: Any) -> None:
    conf = tmp_path / "etc/containers/registries.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(
        '[[registry]]\nlocation = "r.example.com/app"\n'
        '[[registry.mirror]]\nlocation = "m.example.net"\n'
    )
    code, out, err = run(
        capsys, "explain", f"r.example.com/app@{DIGEST}", "--host-root", str(tmp_path), "-o", "json"
    )
    (result,) = json.loads(out)["results"]
    assert code == 2
    assert result["error"]["kind"] == "rewrite-invalid-reference"
    assert result["error"]["stage"] == "rewrite"
    assert "m.example.net" in err


def test_load_error_json_and_stderr(tmp_path: Path, capsys: Any) -> None:
    conf = tmp_path / "etc/containers/registries.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('[[registry]]\nlocation = "a.b"\n\n[[registry]]\nprefix = "x.y/z"\n')
    code, out, err = run(capsys, "explain", "a.b/c:1", "--host-root", str(tmp_path), "-o", "json")
    assert code == 2
    assert json.loads(out) == {
        "schemaVersion": 1,
        "error": {
            "kind": "location-required",
            "stage": "load",
            "message": json.loads(out)["error"]["message"],
            "file": str(conf),
            "line": 4,
            "column": None,
        },
    }
    assert err.startswith(f"error: {conf}:4: registry 'x.y/z': location is unset")
    assert "Traceback" not in err


def test_load_error_table_mode_prints_nothing_on_stdout(tmp_path: Path, capsys: Any) -> None:
    conf = tmp_path / "etc/containers/registries.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[[registry]\n")
    code, out, err = run(capsys, "config", "--host-root", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {conf}:1:")


def test_missing_registries_conf_override(host: Path, capsys: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    code, _, err = run(
        capsys, "config", "--host-root", str(host), "--registries-conf", str(missing)
    )
    assert code == 2
    assert str(missing) in err and "hint:" in err


def test_config_json_reports_ignored_keys_and_files(host: Path, capsys: Any) -> None:
    drop_in = host / "etc/containers/registries.conf.d/50-typo.conf"
    drop_in.parent.mkdir()
    drop_in.write_text('[[registry]]\nlocation = "x.example.com"\nmirror_by_digest_only = true\n')
    code, out, _ = run(capsys, "config", "--host-root", str(host), "-o", "json")
    document = json.loads(out)
    assert code == 0
    assert document["configuration"]["files"][-1] == str(drop_in)
    assert document["ignoredKeys"] == [
        {"file": str(drop_in), "key": "registry[0].mirror_by_digest_only"}
    ]
    prefixes = [entry["prefix"] for entry in document["effective"]["registries"]]
    assert prefixes == sorted(prefixes)
    assert document["effective"]["registries"][-1]["file"] == str(drop_in)


def test_config_table_warns_about_ignored_keys(host: Path, capsys: Any) -> None:
    (host / "etc/containers/registries.conf").write_text(
        '[[registry]]\nlocation = "x.example.com"\nmirror_by_digest_only = true\n'
    )
    code, out, _ = run(capsys, "config", "--host-root", str(host))
    assert code == 0
    assert "key 'registry[0].mirror_by_digest_only' is not a registries.conf setting" in out


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
    from agent.daemon import Agent
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
    from agent.daemon import Agent

    def ended_unpublished(self: Agent, *, max_cycles: Any = None) -> None:
        assert max_cycles == 1
        self.publisher.pending = object()  # type: ignore[assignment]
        self.publisher.last_error = "503 ServiceUnavailable"

    monkeypatch.setattr(Agent, "run_forever", ended_unpublished)
    code, out, _ = run_agent(capsys, host, tmp_path, "--cycles", "1")
    assert code == 69
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["event"] == "unpublished" and "503" in event["error"]


def test_run_finishes_removing_a_scratch_store_before_sigterm_ends_it(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent run must not set a SIGTERM handler of its own: it would cut the cleanup of a
    scratch store short and leave it (with whatever is mounted in it) on the node."""
    import signal

    from agent.daemon import Agent
    from agent.pull import scratch
    from agent.pull.runner import NodeRunner

    (host / "var" / "tmp").mkdir(parents=True)
    real_remove = scratch.remove_tree
    removed: list[bool] = []

    def remove_while_terminated(path: Path) -> list[str]:
        signal.raise_signal(signal.SIGTERM)  # the kubelet stops the pod mid-cleanup
        problems = real_remove(path)
        removed.append(not path.exists())
        return problems

    def one_scratch_pull(self: Agent, *, max_cycles: Any = None) -> None:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with self.runner.scratch_store():
            pass

    monkeypatch.setattr(scratch, "remove_tree", remove_while_terminated)
    monkeypatch.setattr(NodeRunner, "check_free_space", lambda self: None)
    monkeypatch.setattr(Agent, "run_forever", one_scratch_pull)
    code, out, err = run_agent(capsys, host, tmp_path)
    assert code == 0, err
    assert removed == [True]
    assert list((host / "var" / "tmp").iterdir()) == []
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["terminated"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_checklist_refuses_a_zero_poll(capsys: Any) -> None:
    """--poll 0 would list the report ConfigMaps in a busy loop for the whole --wait."""
    code, _, err = run(
        capsys,
        "checklist",
        "pre-upgrade",
        "--to-image",
        f"quay.io/openshift-release-dev/ocp-release@{DIGEST}",
        "--poll",
        "0",
    )
    assert code == 2
    assert "--poll" in err


def test_run_outside_a_pod_takes_the_kubeconfig_from_the_environment(
    host: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent run --help says --kubeconfig defaults to KUBECONFIG; it did not."""
    from agent.daemon import Agent

    servers: list[str] = []
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path)))
    monkeypatch.setattr(
        Agent,
        "run_forever",
        lambda self, **_: servers.append(self.publisher._publish.client.config.server),
    )
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
    assert servers == ["https://127.0.0.1:9"]


def _journal(*messages: str) -> str:
    return "\n".join(
        f'Nov 25 10:00:0{n} node-1 crio[1]: time="2026-11-25T10:00:0{n}Z" level=info msg="{m}"'
        for n, m in enumerate(messages)
    )


@pytest.mark.parametrize(
    ("ends", "strict", "expected"),
    [
        ("mirror.example.net", False, 0),  # the first mirror served it
        ("backup.example.net:8443", False, 0),  # a fallback: a warning
        ("backup.example.net:8443", True, 1),  # ... which --strict fails
        (None, False, 1),  # how the pull ended is not in the journal: an error
    ],
)
def test_check_history_exit_code_follows_the_pulls(
    host: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, ends: Any, strict: bool, expected: int
) -> None:
    from agent.process import CommandResult
    from agent.pull.runner import NodeRunner

    image = f"registry.example.com/team/app@{DIGEST}"
    first, second = (
        f"mirror.example.net/team/app@{DIGEST}",
        f"backup.example.net:8443/team/app@{DIGEST}",
    )
    lines = [f"Pulling image: {image}", f'Trying to access \\"{first}\\"']
    if ends and ends.startswith("backup"):
        lines.append(f'Trying to access \\"{second}\\"')
    if ends:
        lines.append(f"Pulled image: {second if ends.startswith('backup') else first}")
    journal = CommandResult(("journalctl",), 0, _journal(*lines), "", False, 0.1)
    monkeypatch.setattr(NodeRunner, "crio_journal", lambda self, since: journal)
    argv = ["check", "--history", "--host-root", str(host), "-o", "json"]
    code, out, _ = run(capsys, *argv, *(["--strict"] if strict else []))
    assert code == expected
    assert json.loads(out)["history"][0]["image"] == image
