"""Post-upgrade item 3: every node re-checked after its last rollout, passing, no source used."""

from __future__ import annotations

from agent.checklist.items.node_reports import node_reports_item
from agent.checklist.model import FAIL, PASS
from agent.checklist.snapshot import Reports
from tests.unit.checklist.factories import (
    DIGEST,
    MIRROR,
    NS,
    REPORTS_NS,
    TARGET,
    healthy_snapshot,
    node,
    release_image,
    report_configmap,
)


def test_node_reports_item() -> None:
    assert node_reports_item(healthy_snapshot()).verdict == PASS
    snapshot = healthy_snapshot(
        nodes=[
            node("fresh"),
            node("stale", current="rendered-worker-2"),
            node("silent"),
            node("failing"),
            node("rolling", desired="rendered-worker-2"),
            node("source"),
        ],
        reports=Reports.of(
            [
                report_configmap("fresh"),
                report_configmap("stale"),
                report_configmap("rolling"),
                report_configmap(
                    "failing",
                    images=[
                        release_image(
                            served_by=None,
                            kind=None,
                            verdict="fail",
                            findings=[("not-served", "fail", "no source served the image")],
                        )
                    ],
                ),
                report_configmap(
                    "source",
                    images=[
                        release_image(
                            served_by=TARGET,
                            kind="source",
                            verdict="warn",
                            attempts=[
                                (f"{MIRROR}@{DIGEST}", "mirror", "failed", "timeout"),
                                (TARGET, "source", "served", None),
                            ],
                        )
                    ],
                ),
            ]
        ),
    )
    item = node_reports_item(snapshot)
    rows = {row["node"]: row for row in item.details["nodes"]}
    assert {n: r["verdict"] for n, r in rows.items()} == {
        "fresh": PASS,
        "stale": FAIL,
        "silent": FAIL,
        "failing": FAIL,
        "rolling": FAIL,
        "source": FAIL,
    }
    assert rows["stale"]["problems"] == [
        "checked under rendered-worker-1, before the rollout of rendered-worker-2"
    ]
    assert rows["source"]["problems"][-1] == f"contacted a source registry for {TARGET}"
    assert (
        f"oc delete pod -n {NS} -l app.kubernetes.io/name=mirror-agent --field-selector "
        "spec.nodeName=stale   # re-checks at start"
    ) in item.remediation
    assert (
        f"oc get configmap mirror-agent-report-failing -n {REPORTS_NS} -o jsonpath="
        "'{.data.report\\.json}'   # the node's full report"
    ) in item.remediation
    assert item.summary == "5 of 6 expected nodes need attention"


def test_a_report_from_the_future_is_flagged() -> None:
    from datetime import datetime, timezone

    future = Reports.of(
        [
            report_configmap("master-0"),
            report_configmap("worker-0"),
            report_configmap("worker-1", checked_at="2999-01-01T00:00:00Z"),
        ]
    )
    now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    item = node_reports_item(healthy_snapshot(reports=future), now=now)
    rows = {row["node"]: row for row in item.details["nodes"]}
    assert rows["worker-1"]["verdict"] == FAIL
    assert "in the future" in rows["worker-1"]["problems"][0]
    assert rows["worker-0"]["verdict"] == PASS


def test_no_report_at_all_names_the_reports_namespace_and_the_upgrade() -> None:
    """Agents of a version before the reports namespace publish in mirror-agent: an empty
    reports namespace is said so, where it looked and where the old agents write."""
    outcome = node_reports_item(healthy_snapshot(reports=Reports.of([])))
    assert outcome.verdict == FAIL
    (line,) = [e for e in outcome.evidence if e.startswith("no node report in namespace")]
    assert line.startswith(f"no node report in namespace {REPORTS_NS}:")
    assert f"publish in {NS};" in line and "docs/deploying.md (Upgrade)" in line
    one_report = Reports.of([report_configmap("worker-0")])
    assert not any(
        "no node report" in e
        for e in node_reports_item(healthy_snapshot(reports=one_report)).evidence
    )
