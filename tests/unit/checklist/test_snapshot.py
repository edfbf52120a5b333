"""Node reports as the checklist reduces them (agent/checklist/snapshot.py)."""

from __future__ import annotations

from agent.checklist.snapshot import Reports
from agent.kube.contract import REPORT_KEY
from tests.unit.checklist.factories import (
    DIGEST,
    EARLIER,
    LATER,
    MIRROR,
    TARGET,
    release_image,
    report_configmap,
)


def test_a_blocked_source_attempt_is_not_a_contact() -> None:
    blocked = release_image(attempts=[(f"{MIRROR}@{DIGEST}", "mirror", "served", None)])
    refused = release_image(
        served_by=None,
        kind=None,
        verdict="fail",
        attempts=[
            (f"{MIRROR}@{DIGEST}", "mirror", "failed", "timeout"),
            (TARGET, "source", "failed", "blocked"),
        ],
    )
    reports = Reports.of(
        [report_configmap("a", images=[blocked]), report_configmap("b", images=[refused])]
    )
    assert not any(i.contacted_source for r in reports.by_node.values() for i in r.images)


def test_reports_keep_the_newest_per_node_and_effective_once_per_fingerprint() -> None:
    reports = Reports.of(
        [
            report_configmap("a", checked_at=LATER),
            report_configmap("a", checked_at=EARLIER),
            report_configmap("b"),
        ]
    )
    assert reports.by_node["a"].checked_at == LATER
    assert len(reports.effective) == 1
    broken = report_configmap("c")
    broken["data"][REPORT_KEY] = "{not json"
    assert Reports.of([broken]).by_node["c"].readable is False


def test_a_malformed_report_is_an_invalid_report_of_its_node() -> None:
    """Issue 10 §1: one bad ConfigMap never takes the other nodes' reports with it."""
    malformed = [
        {"metadata": {"name": "cm-list"}, "data": {REPORT_KEY: "[1,2]"}},
        {
            "metadata": {"name": "cm-number", "annotations": {"mirror-agent.io/node": "n2"}},
            "data": {REPORT_KEY: '{"node": 5, "verdict": "pass"}'},
        },
        {"metadata": {"name": "cm-deep"}, "data": {REPORT_KEY: "[" * 5000 + "]" * 5000}},
        {"metadata": ["not", "a", "mapping"], "data": {REPORT_KEY: "{}"}},
        {"metadata": {"name": "cm-data"}, "data": {REPORT_KEY: 42}},
    ]
    reports = Reports.of([report_configmap("good"), *malformed])
    assert reports.by_node["good"].verdict != "error"
    for node, named in (
        ("cm-list", "must be a JSON object, not a list"),
        ("n2", "node must be a string, not a number"),
        ("cm-deep", "nested more than"),
        ("cm-data", "not a string"),
    ):
        invalid = reports.by_node[node]
        assert invalid.verdict == "error" and not invalid.readable
        assert invalid.findings[0].startswith("invalid-report:") and named in invalid.findings[0]
