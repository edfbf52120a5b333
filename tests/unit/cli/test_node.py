"""agent explain, config, check --history: outputs, errors on stderr, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ExitCode
from tests.unit.cli import DIGEST, run


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
    # The table says what the exit code does: a warning that --strict failed.
    code, out, _ = run(capsys, *argv[:-2], *(["--strict"] if strict else []))
    assert code == expected
    assert ("failed by --strict" in out) is (strict and expected == 1)


@pytest.mark.parametrize("value", ["0", "65", "many"])
def test_check_refuses_a_parallel_outside_1_to_64(host: Path, capsys: Any, value: str) -> None:
    code, out, err = run(
        capsys,
        "check",
        "--host-root",
        str(host),
        "--image",
        f"quay.io/a/b@{DIGEST}",
        "--parallel",
        value,
    )
    assert code == ExitCode.BAD_INPUT
    assert "--parallel" in err and out == ""
