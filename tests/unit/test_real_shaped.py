"""Pasted logs as people post them (tests/data/fixtures/real-shaped): parser, judge, analyze.

Each ``X.log`` has a sidecar ``X.json`` that says where its shape comes from and what a
careful human reading it concludes (written by hand, not from the agent's output):
``pulls`` for the parser (``parse_pulls``, or ``parse_crio_journal`` for a CRI-O journal),
``images`` for ``agent analyze`` (verdict, finding codes, attempts with their kind, served
by, exit status, whether the attempts were read from the error text). Two properties are
checked over these and the recorded podman 4.3 logs: ``agent analyze`` never says a source
served an image unless the log shows the manifest read or the pull finishing, and never
says that no source was tried when the error text names one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent import registries
from agent.commands.analyze import analyze_log
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.pulls import parse_pulls
from agent.report import CheckReport, ImageResult
from tests.support.data import FIXTURES, require

REAL_SHAPED = FIXTURES / "real-shaped"
RECORDED = FIXTURES / "podman-4.3"
TOOLS = {"podman 3.x", "podman 4.x", "podman 5.x", "skopeo", "crio"}
COVERS = {
    "non-debug error text",
    "retry warnings",
    "journal prefix",
    "systemctl status cut",
    "indented or quoted",
    "non-English locale",
    "ANSI",
    "CRLF",
    "several pulls",
    "begins mid-pull",
    "ends before the manifest",
    "docker.io display name",
    "CRI-O double walk",
    "kubelet event",
    "not-a-registry",
    "rate-limited",
    "no reason shown",
}


def names() -> list[str]:
    return sorted(path.stem for path in require(REAL_SHAPED).glob("*.log"))


def sidecar(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REAL_SHAPED / f"{name}.json").read_text())
    return data


def log_text(name: str) -> str:
    return (REAL_SHAPED / f"{name}.log").read_bytes().decode()


def analyzed(name: str, tmp_path: Path, text: str | None = None) -> CheckReport:
    expected = sidecar(name)
    conf = tmp_path / "registries.conf"
    conf.write_text(expected["registries"])
    loaded = registries.load(tmp_path / "empty", main_override=conf)
    return analyze_log(
        loaded,
        log_text(name) if text is None else text,
        source=f"{name}.log",
        image=expected.get("image"),
        exit_code=expected.get("exitCode"),
        checked_at="now",
        agent_version="0",
    )


def test_there_are_enough_fixtures_and_each_has_its_sidecar() -> None:
    logs = names()
    assert len(logs) >= 20
    sidecars = sorted(path.stem for path in REAL_SHAPED.glob("*.json"))
    assert sidecars == logs


def test_the_fixtures_cover_every_class_and_tool() -> None:
    covered: set[str] = set()
    tools: set[str] = set()
    for name in names():
        data = sidecar(name)
        assert data["shape"] and data["conclusion"], name  # where from, what a human reads
        assert set(data["covers"]) <= COVERS, name
        covered |= set(data["covers"])
        tools.add(data["tool"])
    assert covered == COVERS
    assert tools == TOOLS


@pytest.mark.parametrize("name", names())
def test_no_credentials_in_fixtures(name: str) -> None:
    text = log_text(name)
    assert not re.search(r"(?i)(bearer|basic) [A-Za-z0-9+/=]{16,}|password=|\"auth\":", text)


def _rows(attempts: Any) -> list[list[Any]]:
    return [[a.location, a.outcome, a.reason] for a in attempts]


@pytest.mark.parametrize("name", names())
def test_parser(name: str) -> None:
    expected = sidecar(name)
    text = log_text(name)
    if expected.get("parser") == "crio-journal":
        got = [
            {"image": pull.image, "attempts": _rows(pull.attempts), "pulled": pull.pulled}
            for pull in parse_crio_journal(text)
        ]
    else:
        got = [
            {
                "image": pull.image,
                "attempts": _rows(pull.attempts),
                "inferred": pull.attempts_inferred,
                "rounds": pull.rounds,
            }
            for pull in parse_pulls(text)
        ]
    assert got == expected["pulls"]


def _image_view(image: ImageResult) -> dict[str, Any]:
    return {
        "image": image.image,
        "verdict": image.verdict,
        "findings": [finding.code for finding in image.findings],
        "attempts": [[a.location, a.outcome, a.reason, a.kind] for a in image.attempts],
        "servedBy": image.served_by,
        "exitCode": image.exit_code,
        "attemptsInferred": image.attempts_inferred,
    }


@pytest.mark.parametrize("name", names())
def test_analyze_and_judge(name: str, tmp_path: Path) -> None:
    report = analyzed(name, tmp_path)
    assert [_image_view(image) for image in report.images] == sidecar(name)["images"]
    assert report.verdict == max(
        (image.verdict for image in report.images),
        key=["pass", "warn", "fail", "error"].index,
    )


@pytest.mark.parametrize("name", names())
def test_analyze_json_says_when_attempts_were_inferred(name: str, tmp_path: Path) -> None:
    document = analyzed(name, tmp_path).to_json()
    for image, expected in zip(document["images"], sidecar(name)["images"]):
        assert image["attemptsInferred"] is expected["attemptsInferred"]


# --- properties over every fixture (these and the recorded podman 4.3 logs) -----------

# Lines that show a source served the manifest, or the pull finishing.
_MANIFEST_SHOWN = re.compile(
    r"Getting image source signatures|Copying (?:blob|config) |Writing manifest|Storing signatures"
    r"|^[0-9a-f]{64}\s*$|\"schemaVersion\"|\"Digest\": \"sha256:|Pulled image: |Downloading /v2/"
    r"|Skipping blob |determining repository tags|reading blob|fetching blob",
    re.MULTILINE,
)
# Error texts that name a source that was tried.
_NAMES_A_SOURCE = re.compile(
    r"Mirrors also failed|initializing source|reading manifest \S+ in \S+|Error parsing image "
    r"name|pinging (?:container|docker) registry|is blocked in",
    re.IGNORECASE,
)


def _every_log() -> list[tuple[str, Path]]:
    recorded = [("recorded", path) for path in sorted(require(RECORDED).glob("*.log"))]
    return [("real-shaped", REAL_SHAPED / f"{name}.log") for name in names()] + recorded


def _analyze_any(kind: str, path: Path, tmp_path: Path) -> CheckReport:
    if kind == "real-shaped":
        return analyzed(path.stem, tmp_path)
    # the recorded logs: their scenario's registries file when there is one, else none
    loaded = registries.load(tmp_path / "empty", main_override=_recorded_conf(path, tmp_path))
    return analyze_log(
        loaded,
        path.read_text(),
        source=path.name,
        image=None,
        exit_code=None,
        checked_at="now",
        agent_version="0",
    )


def _recorded_conf(path: Path, tmp_path: Path) -> Path:
    from tests.unit.test_judge import CASES  # each recorded log's registries file

    return RECORDED / "registries" / f"{CASES[path.stem][1]}.conf"


@pytest.mark.parametrize(("kind", "path"), _every_log(), ids=lambda value: str(value))
def test_served_only_when_the_log_shows_the_manifest_read(
    kind: str, path: Path, tmp_path: Path
) -> None:
    text = path.read_bytes().decode()
    for image in _analyze_any(kind, path, tmp_path).images:
        if image.served_by is not None:
            assert _MANIFEST_SHOWN.search(text), (path.name, image.image)
        if image.exit_code == 0:
            assert _MANIFEST_SHOWN.search(text), (path.name, image.image)


@pytest.mark.parametrize(("kind", "path"), _every_log(), ids=lambda value: str(value))
def test_never_no_source_tried_when_the_error_names_one(
    kind: str, path: Path, tmp_path: Path
) -> None:
    for image in _analyze_any(kind, path, tmp_path).images:
        error = image.final_error or ""
        if _NAMES_A_SOURCE.search(error):
            assert image.attempts, (path.name, image.image)
            assert "check-failed" not in [finding.code for finding in image.findings]
        for finding in image.findings:
            assert "before trying any source" not in finding.message


@pytest.mark.parametrize(
    ("name", "exit_code"),
    [
        ("podman4-systemctl-status-cut-lines", 1),  # fail
        ("skopeo-debug-ends-before-manifest", 1),  # unknown is an error, never success
        ("crio-journal-double-trying-one-mirror", 0),
    ],
)
def test_the_command_line(
    name: str, exit_code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli.app import main

    conf = tmp_path / "registries.conf"
    conf.write_text(sidecar(name)["registries"])
    root = tmp_path / "root"
    root.mkdir()
    argv = [str(REAL_SHAPED / f"{name}.log"), "--registries-conf", str(conf)]
    code = main(["analyze", *argv, "--host-root", str(root), "-o", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == exit_code
    assert [image["attemptsInferred"] for image in document["images"]] == [
        image["attemptsInferred"] for image in sidecar(name)["images"]
    ]
    assert main(["analyze", *argv, "--host-root", str(root)]) == exit_code
    table = capsys.readouterr().out
    inferred = "attempts read from the error text" in table
    assert inferred is any(image["attemptsInferred"] for image in sidecar(name)["images"])
