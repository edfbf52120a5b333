"""``--strict`` in the outputs of ``agent collect`` and ``agent check --history``: what the
exit code says (a warning fails), the output says too."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from agent.cli.app import main
from agent.collect import Summary, summarise
from agent.kube.publish import report_configmap
from agent.output.check import history_table
from agent.output.collect import collect_junit, collect_markdown, collect_table
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult, timestamp

IMAGE = "quay.io/x/y@sha256:" + "ab" * 32
STRICT_NOTE = "NOT OK — failed by --strict: 1 node(s) warn, and warnings fail in strict mode"


def warning_report(checked_at: str = "2030-01-01T10:00:00Z") -> dict[str, Any]:
    report = CheckReport(
        node="node-0",
        checked_at=checked_at,
        verdict="warn",
        images=(
            ImageResult(
                image=IMAGE,
                verdict="warn",
                served_by="mirror.b/x/y@sha256:" + "ab" * 32,
                served_by_kind="mirror",
                attempts=(
                    AttemptRecord("mirror.a/x/y@sha256:" + "ab" * 32, "failed", "mirror", "dns"),
                    AttemptRecord("mirror.b/x/y@sha256:" + "ab" * 32, "served", "mirror"),
                ),
                findings=(Finding("fallback-to-later-mirror", "warn", "earlier failed"),),
            ),
        ),
        method="pull",
        fingerprint="sha256:" + "f1" * 32,
    )
    return report_configmap(report, namespace="mirror-agent", node=None)


def summary() -> Summary:
    now = datetime(2030, 1, 1, 11, 0, tzinfo=timezone.utc)
    return summarise([warning_report()], None, daemonset=None, now=now, max_age=None)


def test_collect_outputs_say_strict_mode_failed_it() -> None:
    assert collect_table(summary()).rstrip().endswith("overall: OK")
    assert collect_table(summary(), strict=True).rstrip().endswith(f"overall: {STRICT_NOTE}")
    wide = collect_table(summary(), wide=True, strict=True)
    assert wide.rstrip().endswith(f"overall: {STRICT_NOTE}")
    assert collect_markdown(summary()).rstrip().endswith("**Overall: OK**")
    assert collect_markdown(summary(), strict=True).rstrip().endswith(f"**Overall: {STRICT_NOTE}**")
    suite = ElementTree.fromstring(collect_junit(summary(), strict=True))
    assert suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == "verdict warn (failed by --strict)"
    assert ElementTree.fromstring(collect_junit(summary())).get("failures") == "0"


@pytest.mark.parametrize("output", ["table", "wide", "markdown", "junit"])
def test_collect_strict_exit_and_output_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    saved = tmp_path / "reports.json"
    # the CLI judges freshness by the real clock: a report from a minute ago
    recent = timestamp(datetime.now(timezone.utc) - timedelta(minutes=1))
    saved.write_text(json.dumps({"kind": "ConfigMapList", "items": [warning_report(recent)]}))
    assert main(["collect", "--from-file", str(saved), "-o", output]) == 0
    capsys.readouterr()
    assert main(["collect", "--from-file", str(saved), "-o", output, "--strict"]) == 1
    out = capsys.readouterr().out
    assert "failed by --strict" in out


def test_history_says_strict_mode_failed_it() -> None:
    entries: list[dict[str, Any]] = [
        {
            "time": "2030-01-01T10:00:00Z",
            "verdict": "warn",
            "image": IMAGE,
            "servedBy": "mirror.b/x/y@sha256:" + "ab" * 32,
            "servedByKind": "mirror",
        }
    ]
    plain = history_table(entries, verdict="warn")
    assert plain.rstrip().endswith("overall: WARN")
    strict = history_table(entries, verdict="warn", strict=True)
    assert strict.rstrip().endswith(
        "overall: WARN\nfailed by --strict: warnings fail in strict mode (exit 1)"
    )
