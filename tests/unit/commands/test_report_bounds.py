"""Whatever the checks folder holds, the node's report fits in its ConfigMap and is
published: input quoted in messages is bounded, recheck ids are validated, and the last
fitting step trims the node-level parts instead of giving up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.commands.check import CheckOptions
from agent.commands.checks_file import read_image_lines
from agent.errors import QUOTE_LIMIT, AgentError
from agent.kube.fit import _HEADROOM, CONFIGMAP_LIMIT, ReportTooLarge, fit_report
from agent.kube.publish import report_configmap
from agent.report import CheckReport, Finding, NotVerified
from tests.unit.commands.fakes import SRC, FakeRunner, check, host_with, result
from tests.unit.commands.test_daemon import make_agent

HUGE = 1_100_000  # characters: more than a ConfigMap holds


def test_a_huge_invalid_line_is_quoted_in_part() -> None:
    with pytest.raises(AgentError) as raised:
        read_image_lines("a " + "b" * HUGE + "\n", "images.txt")
    message = str(raised.value)
    assert message.startswith("images.txt:1: one image reference per line, got 'a bbb")
    assert len(message) < 2 * QUOTE_LIMIT and f"{HUGE + 2 - QUOTE_LIMIT} more" in message


def test_a_huge_method_value_is_quoted_in_part() -> None:
    with pytest.raises(AgentError) as raised:
        read_image_lines(f"{SRC}  # method={'x' * HUGE}\n", "images.txt")
    assert len(str(raised.value)) < 2 * QUOTE_LIMIT + 100
    assert "images.txt:1: method=xxx" in str(raised.value)


def test_the_images_left_out_by_the_cap_are_quoted_in_part(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    images = [SRC] + [f"example.com/{'x' * 200_000}{n}:latest" for n in range(3)]
    report = check(
        FakeRunner({SRC: result("", 0)}), root, CheckOptions(tuple(images), max_images=1)
    )
    (finding,) = [f for f in report.findings if f.code == "too-many-images"]
    assert "3 not checked" in finding.message and len(finding.message) < 4 * QUOTE_LIMIT


def _oversized_node_level() -> CheckReport:
    return CheckReport(
        node="n",
        checked_at="2030-01-01T10:00:00Z",
        verdict="error",
        findings=(
            Finding("checks-file-invalid", "error", "y" * HUGE),
            *(Finding(f"f{n}", "warn", "z" * 100) for n in range(2000)),
        ),
        not_verified=tuple(NotVerified("p" * 1000, "no local image") for _ in range(2000)),
        extra={"recheck": {"all": "i" * HUGE}, "interrupted": None},
    )


def test_node_level_parts_are_trimmed_last_and_the_report_fits() -> None:
    report = _oversized_node_level()
    text = fit_report(report.to_json(), report)
    assert len(text.encode()) <= CONFIGMAP_LIMIT - _HEADROOM
    document = json.loads(text)
    assert document["verdict"] == "error"  # verdicts never change
    assert document["findings"][0]["code"] == "checks-file-invalid"
    assert len(document["findings"][0]["message"]) < 400
    assert len(document["findings"]) == 100
    assert document["notVerified"] == [] and "recheck" not in document
    trimmed = document["nodeLevelTrimmed"]
    assert "1901 findings" in trimmed and "recheck" in trimmed
    assert "notVerified (2000 entries)" in trimmed


def test_what_the_publisher_adds_is_trimmed_too() -> None:
    report = CheckReport(node="n", checked_at="2030-01-01T10:00:00Z", verdict="pass")
    document = {**report.to_json(), "machineConfig": {"state": "s" * HUGE}}
    fitted = json.loads(fit_report(document, report))
    assert "machineConfig" not in fitted and fitted["nodeLevelTrimmed"] == ["machineConfig"]


def test_a_report_that_fits_is_untouched_by_the_last_step() -> None:
    report = CheckReport(
        node="n",
        checked_at="2030-01-01T10:00:00Z",
        verdict="warn",
        findings=(Finding("x", "warn", "y" * 5000),),
        not_verified=(NotVerified("p", "r"),),
        extra={"recheck": {"all": "ab"}},
    )
    assert json.loads(fit_report(report.to_json(), report)) == report.to_json()


def test_the_error_states_the_limit_used() -> None:
    report = CheckReport(node="n" * HUGE, checked_at="2030-01-01T10:00:00Z", verdict="pass")
    with pytest.raises(ReportTooLarge, match=f"the limit used is {CONFIGMAP_LIMIT - _HEADROOM}"):
        fit_report(report.to_json(), report)


# -- through agent run: published, and the log bounded too -------------------------------------


def _published_sizes(tmp_path: Path, **settings: Any) -> tuple[list[int], str]:
    sizes: list[int] = []

    def publish(report: CheckReport) -> None:
        configmap = report_configmap(report, namespace="mirror-agent", node=None)
        sizes.append(len(configmap["data"]["report.json"].encode()))

    agent, clock, out = make_agent(tmp_path, publish, images=(), **settings)
    for _ in range(3):
        agent.step()
        clock.now += 400
    assert agent.publisher.pending is None, agent.publisher.last_error
    return sizes, out.getvalue()


def test_a_checks_file_with_a_huge_line_is_published_and_logged_in_part(tmp_path: Path) -> None:
    checks = tmp_path / "images.txt"
    checks.write_text("a " + "b" * (CONFIGMAP_LIMIT - 200) + "\n")
    sizes, log = _published_sizes(tmp_path, images_file=checks)
    assert sizes and all(size < 20_000 for size in sizes)
    assert len(log) < 20_000 and "one image reference per line" in log
