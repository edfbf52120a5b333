"""``agent run`` keeps going and keeps reporting: a bad checks file or configuration, or
anything else breaking a check, becomes an error report; reports always fit; the Node
read is retried; a one-shot run stopped before publishing does not exit 0."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

from agent.cli.options import MAX_IMAGES_DEFAULT
from agent.collect import summarise
from agent.commands.check import DEFAULT_MAX_IMAGES, CheckOptions
from agent.commands.collect import read_daemonset
from agent.commands.run import serve
from agent.errors import ExitCode
from agent.kube.client import ApiError, NotFound
from agent.kube.fit import CONFIGMAP_LIMIT, TRUNCATED, fit_report
from agent.kube.publish import NodeReportPublisher, report_configmap
from agent.process import Terminated
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult
from tests.unit.commands.fakes import SRC, FakeRunner, check, host_from, host_with, result
from tests.unit.commands.test_daemon import make_agent

# -- a check that cannot run is an error report, logged once, and the loop goes on -----------


def test_a_non_utf8_checks_file_is_an_error_report_and_the_loop_goes_on(tmp_path: Path) -> None:
    published: list[CheckReport] = []
    checks = tmp_path / "images.txt"
    checks.write_bytes(b"\xff\xfe" + SRC.encode() + b"\n")
    agent, clock, out = make_agent(tmp_path, published.append, images_file=checks, images=())
    agent.step()
    codes = [finding.code for finding in published[-1].findings]
    assert "checks-file-invalid" in codes and published[-1].verdict == "error"
    assert "not UTF-8" in published[-1].findings[-1].message
    clock.now += 3600
    agent.step()  # the interval passes: checked again, the problem logged once only
    assert len(published) == 2
    assert out.getvalue().count("images-file-invalid") == 1
    checks.write_text(f"{SRC}\n")
    agent.step()  # fixed: the next report is a normal one
    assert published[-1].verdict == "warn" and published[-1].images[0].image == SRC


def test_a_check_that_breaks_unexpectedly_is_an_error_report(tmp_path: Path) -> None:
    published: list[CheckReport] = []
    agent, clock, out = make_agent(tmp_path, published.append)

    def broken(compat: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    agent.load = broken
    agent.step()
    clock.now += 3600
    agent.step()
    assert [report.verdict for report in published] == ["error", "error"]
    (finding,) = published[0].findings
    assert finding.code == "check-failed" and "RecursionError" in finding.message
    assert out.getvalue().count("check-failed") == 1  # logged once, reported each time


def test_a_publish_that_breaks_unexpectedly_is_retried_not_fatal(tmp_path: Path) -> None:
    calls: list[CheckReport] = []

    def publish(report: CheckReport) -> None:
        calls.append(report)
        if len(calls) == 1:
            raise TypeError("a bug in the publisher")

    agent, clock, _ = make_agent(tmp_path, publish)
    agent.step()
    assert agent.publisher.pending is not None
    assert "TypeError" in (agent.publisher.last_error or "")
    clock.now += 10
    agent.step()
    assert agent.publisher.pending is None and len(calls) == 2


def test_a_bad_registries_conf_is_a_failing_report_and_the_loop_goes_on(tmp_path: Path) -> None:
    published: list[CheckReport] = []
    root = host_from(tmp_path, "[[registry]\n")
    agent, clock, _ = make_agent(tmp_path, published.append)
    assert root == agent.settings.host_root
    agent.step()
    assert published[-1].verdict == "fail"
    assert published[-1].findings[-1].code == "registries-conf-invalid"
    clock.now += 30
    assert agent.step() is None  # the same broken file is not re-checked at every poll


# -- the image cap ------------------------------------------------------------------------------


def test_images_beyond_the_cap_are_not_checked_and_reported(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    images = [f"{SRC[: SRC.index('@')]}{n}@{SRC.split('@')[1]}" for n in range(5)]
    runner = FakeRunner({image: result("", 0) for image in images})
    report = check(runner, root, CheckOptions(tuple(images), max_images=2))
    assert [image.image for image in report.images] == images[:2]
    assert len(runner.calls) == 2
    (finding,) = [f for f in report.findings if f.code == "too-many-images"]
    assert "5 images" in finding.message and "3 not checked" in finding.message
    assert report.verdict == "error"


def test_the_cli_default_cap_is_the_commands_default() -> None:
    assert MAX_IMAGES_DEFAULT == DEFAULT_MAX_IMAGES


def test_only_covered_images_are_contacted(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    stranger = "203.0.113.7:6379/anything@" + SRC.split("@")[1]
    runner = FakeRunner({SRC: result("", 0), stranger: result("", 0)})
    report = check(runner, root, CheckOptions((SRC, stranger), covered_only=True))
    assert [call[1] for call in runner.calls] == [runner.calls[0][1]]  # only the covered one
    outside = report.images[1]
    assert outside.verdict == "error" and outside.findings[0].code == "not-covered"
    without = check(FakeRunner(runner.pulls), root, CheckOptions((SRC, stranger)))
    assert without.images[1].findings[0].code != "not-covered"


# -- the report always fits its ConfigMap ------------------------------------------------------


def _long_images(count: int, *, message: str = "m" * 300, log: str = "") -> CheckReport:
    images = tuple(
        ImageResult(
            image=f"registry.example.com/{'x' * 600}/{n}@sha256:{'1' * 64}",
            verdict="fail" if n % 2 else "pass",
            attempts=(
                AttemptRecord("mirror.example.com/a", "failed", "mirror", "timeout", message),
            ),
            log=log or None,
        )
        for n in range(count)
    )
    return CheckReport(node="n", checked_at="2030-01-01T10:00:00Z", verdict="fail", images=images)


def test_thousands_of_long_references_fit_with_the_tail_counted() -> None:
    report = _long_images(4000)
    text = report_configmap(report, namespace="ns", node=None)["data"]["report.json"]
    assert len(text.encode()) <= CONFIGMAP_LIMIT
    document = json.loads(text)
    kept = len(document["images"])
    assert 0 < kept < 4000
    assert document["imagesOmitted"] == 4000 - kept
    assert document["summary"] == {"pass": 2000, "warn": 0, "fail": 2000, "error": 0}
    assert document["verdict"] == "fail"
    truncated = [f for f in document["findings"] if f["code"] == TRUNCATED]
    assert truncated and f"{4000 - kept} were left out" in truncated[0]["message"]
    # messages went before images: none is left in what was kept
    assert all(a["message"] is None for i in document["images"] for a in i["attempts"])


def test_messages_are_dropped_before_any_image() -> None:
    report = _long_images(600, message="m" * 2000)
    document = json.loads(fit_report(report.to_json(), report))
    assert len(document["images"]) == 600 and "imagesOmitted" not in document
    assert all(a["message"] is None for i in document["images"] for a in i["attempts"])


def test_logs_go_first_messages_stay_when_that_is_enough() -> None:
    report = _long_images(40, log="l" * 100_000)
    document = json.loads(fit_report(report.to_json(), report))
    assert all(a["message"] for i in document["images"] for a in i["attempts"])
    assert all(len(i["log"] or "") < 100_000 for i in document["images"])


# -- the Node read: retried at each publish, completed at the next poll ------------------------


class FlakyNodes:
    """A client whose Node reads fail ``failures`` times; applies are recorded."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.applied: list[dict[str, Any]] = []

    def get(self, path: str) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise ApiError(429, "TooManyRequests", "slow down")
        return {"metadata": {"name": "n", "uid": "u-1", "annotations": {}}}

    def apply(self, path: str, body: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        self.applied.append(body)
        return body


def test_a_report_published_without_its_node_is_completed_at_the_next_poll() -> None:
    client = FlakyNodes(failures=1)
    send = NodeReportPublisher(client, namespace="ns", node_name="n")  # type: ignore[arg-type]
    report = CheckReport(node="n", checked_at="2030-01-01T10:00:00Z", verdict="pass")
    send(report)
    assert "ownerReferences" not in client.applied[-1]["metadata"]
    assert send.incomplete is report
    assert send.complete() is True
    assert client.applied[-1]["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert send.incomplete is None and send.complete() is False
    assert len(client.applied) == 2


def test_a_publish_retry_reads_the_node_again(tmp_path: Path) -> None:
    client = FlakyNodes(failures=1)
    send = NodeReportPublisher(client, namespace="ns", node_name="n")  # type: ignore[arg-type]
    report = CheckReport(node="n", checked_at="2030-01-01T10:00:00Z", verdict="pass")
    send(report)
    send(report)  # the same report retried (e.g. the apply failed): the Node is read again
    assert client.applied[-1]["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_the_agent_completes_an_incomplete_report_when_idle(tmp_path: Path) -> None:
    completed: list[bool] = []
    answers = [False, True]

    def complete() -> bool:
        completed.append(answers.pop(0) if answers else False)
        return completed[-1]

    agent, clock, out = make_agent(tmp_path, lambda report: None)
    agent.complete = complete
    agent.step()
    clock.now += 30
    agent.step()
    assert completed[:2] == [False, True]
    assert "event=completed" in out.getvalue()


# -- --cycles stopped before its report is published ----------------------------------------


class StoppingAgentRunner(FakeRunner):
    def pull(self, reference: str, *, on_stderr_line: Any = None) -> Any:
        raise Terminated()


@pytest.mark.parametrize("cycles", [1, None])
def test_a_one_shot_run_stopped_before_publishing_exits_environment(
    tmp_path: Path, cycles: Optional[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    client = FlakyNodes(failures=0)
    from agent.commands.daemon import RunSettings

    settings = RunSettings(
        node="n", reports_namespace="ns", host_root=root, images=(SRC,), jitter=0.0
    )
    code = serve(
        settings,
        StoppingAgentRunner({}),  # type: ignore[arg-type]
        client,  # type: ignore[arg-type]
        cycles=cycles,
        agent_version="t",
    )
    assert client.applied == []  # the interrupted check's report is not published
    assert code == (ExitCode.ENVIRONMENT if cycles else ExitCode.OK)


# -- collect: the expected set, and reports from the future -------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {}, "annotations": {}}, "spec": {}}


def _configmap(node: str, checked: str) -> dict[str, Any]:
    report = CheckReport(node=node, checked_at=checked, verdict="pass")
    return report_configmap(report, namespace="ns", node=None)


def test_without_the_daemonset_the_expected_set_is_flagged_approximate() -> None:
    summary = summarise(
        [_configmap("a", "2026-11-25T11:00:00Z")],
        [_node("a"), _node("windows-1")],
        daemonset=None,
        now=NOW,
        max_age=None,
        daemonset_problem="503 ServiceUnavailable: down",
    )
    document = summary.to_json()
    assert document["expectedApproximate"] is True
    assert "503" in document["warnings"][0]
    rows = {row["node"]: row["status"] for row in document["nodes"]}
    assert rows == {"a": "reported", "windows-1": "unknown"}
    assert summary.counts["missing"] == 0 and summary.counts["unknown"] == 1
    assert summary.ok  # a node that may run no agent does not fail the summary


def test_read_daemonset_retries_a_server_error_not_a_refusal() -> None:
    asked: list[str] = []

    def failing(error: Exception) -> Any:
        def get(path: str) -> dict[str, Any]:
            asked.append(path)
            raise error

        return get

    daemonset, problem = read_daemonset(failing(ApiError(503, "ServiceUnavailable", "x")), "ns")
    assert daemonset is None and "503" in (problem or "") and len(asked) == 2
    asked.clear()
    daemonset, problem = read_daemonset(failing(NotFound(404, "NotFound", "gone")), "ns")
    assert daemonset is None and len(asked) == 1
    found, problem = read_daemonset(lambda path: {"kind": "DaemonSet"}, "ns")
    assert found == {"kind": "DaemonSet"} and problem is None


@pytest.mark.parametrize("checked", ["2999-01-01T00:00:00Z", "2026-11-25T12:30:00Z"])
def test_a_report_from_the_future_is_stale_and_says_why(checked: str) -> None:
    summary = summarise(
        [_configmap("a", checked)], [_node("a")], daemonset=None, now=NOW, max_age=None
    )
    (row,) = summary.nodes
    assert row.status == "stale" and "in the future" in (row.stale_reason or "")
    assert not summary.ok


def test_a_small_skew_is_tolerated() -> None:
    ahead = (NOW + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    summary = summarise(
        [_configmap("a", ahead)], [_node("a")], daemonset=None, now=NOW, max_age=None
    )
    assert summary.nodes[0].status == "reported"


def test_findings_keep_their_severity_when_fitted() -> None:
    report = replace(_long_images(1), findings=(Finding("x", "warn", "y"),))
    document = json.loads(fit_report(report.to_json(), report))
    assert document["findings"] == [{"code": "x", "severity": "warn", "message": "y"}]


def test_a_node_whose_settings_cannot_be_read_is_an_error_report(tmp_path: Path) -> None:
    """The runner is made at every check: a proxy.env that cannot be read (say, a folder)
    is that check's error report, not a pod that exits and crash-loops."""
    from agent.errors import CheckEnvironmentError

    published: list[CheckReport] = []
    agent, clock, out = make_agent(tmp_path, published.append)
    working = agent.runner
    attempts: list[int] = []

    def make_runner() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise CheckEnvironmentError("cannot read the node's proxy settings /host/etc/mco")
        return working

    agent._make_runner = make_runner
    agent.step()
    assert published[-1].verdict == "error"
    assert "proxy settings" in published[-1].findings[0].message
    clock.now += 3600
    agent.step()
    assert published[-1].images[0].image == SRC and published[-1].verdict == "warn"
    assert out.getvalue().count("check-failed") == 1
