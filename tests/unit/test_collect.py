"""Aggregation of node reports (pure) and the report ConfigMap (name, owner, size)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from agent.collect import daemonset_schedules, node_pool, parse_duration, summarise
from agent.kube.contract import configmap_name
from agent.kube.publish import CONFIGMAP_LIMIT, report_configmap
from agent.report import CheckReport, Finding, ImageResult

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
IMAGE = "quay.io/ocp/release@sha256:" + "ab" * 32


def node(
    name: str,
    *,
    pool: str = "worker",
    config: Optional[str] = None,
    desired: Optional[str] = None,
    taints: Optional[list[dict[str, str]]] = None,
    labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    rendered = config or f"rendered-{pool}-abc123"
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {f"node-role.kubernetes.io/{pool}": "", **(labels or {})},
            "annotations": {
                "machineconfiguration.openshift.io/currentConfig": rendered,
                "machineconfiguration.openshift.io/desiredConfig": desired or rendered,
                "machineconfiguration.openshift.io/state": "Done",
            },
        },
        "spec": {"taints": taints or []},
    }


def report(
    name: str,
    *,
    verdict: str = "pass",
    checked: str = "2026-11-25T11:00:00Z",
    fingerprint: str = "sha256:aaa",
    served: str = "mirror.example.net/ocp/release",
    kind: str = "mirror",
    mco: Optional[str] = None,
) -> CheckReport:
    findings = () if verdict == "pass" else (Finding("served-by-source", verdict, "why"),)
    image = ImageResult(
        image=IMAGE, verdict=verdict, served_by=served, served_by_kind=kind, findings=findings
    )
    extra = {"machineConfig": {"currentConfig": mco or "rendered-worker-abc123"}}
    return CheckReport(
        node=name,
        checked_at=checked,
        verdict=verdict,
        images=(image,),
        fingerprint=fingerprint,
        extra=extra,
    )


def configmap(rep: CheckReport) -> dict[str, Any]:
    return report_configmap(rep, namespace="mirror-agent", node=None)


def summary(reports: list[CheckReport], nodes: Optional[list[dict[str, Any]]], **kw: Any) -> Any:
    kw.setdefault("daemonset", None)
    kw.setdefault("max_age", None)
    return summarise([configmap(r) for r in reports], nodes, now=NOW, **kw)


def test_counts_and_statuses() -> None:
    nodes = [node("a"), node("b"), node("c"), node("m", pool="master")]
    reports = [
        report("a"),
        report("b", verdict="warn", served="quay.io/ocp/release", kind="source"),
        report("m", fingerprint="sha256:mmm", mco="rendered-master-abc123"),
        report("gone"),
    ]
    result = summary(reports, nodes)
    assert result.counts == {
        "expected": 4,
        "reported": 3,
        "pass": 2,
        "warn": 1,
        "fail": 0,
        "error": 0,
        "missing": 1,
        "unknown": 0,
        "stale": 0,
        "orphaned": 1,
        "drift": 0,
    }
    statuses = {row.node: row.status for row in result.nodes}
    assert statuses == {
        "a": "reported",
        "b": "reported",
        "c": "missing",
        "gone": "orphaned",
        "m": "reported",
    }
    assert not result.ok  # "c" is missing
    (image,) = result.images
    assert image["servedBy"] == {"mirror.example.net/ocp/release": 2, "quay.io/ocp/release": 1}
    document = result.to_json()
    assert document["schemaVersion"] == 1
    row = next(r for r in document["nodes"] if r["node"] == "b")
    assert (row["verdict"], row["drift"], row["checkedAt"]) == (
        "warn",
        False,
        "2026-11-25T11:00:00Z",
    )
    assert row["findings"] == ["served-by-source: why"]


def test_stale_by_age_and_by_rollout() -> None:
    nodes = [
        node("a"),
        node("b", config="rendered-worker-new"),
        node("c", desired="rendered-worker-next"),
    ]
    reports = [report("a", checked="2026-11-24T00:00:00Z"), report("b"), report("c")]
    result = summary(reports, nodes, max_age=timedelta(hours=6))
    reasons = {row.node: (row.status, row.stale_reason) for row in result.nodes}
    assert reasons["a"][0] == "stale" and "older than --max-age" in str(reasons["a"][1])
    assert reasons["b"][0] == "stale" and "rendered-worker-new" in str(reasons["b"][1])
    assert reasons["c"][0] == "stale" and "in progress" in str(reasons["c"][1])
    assert result.counts["stale"] == 3 and result.counts["reported"] == 3


def test_drift_is_per_pool_majority() -> None:
    nodes = [node(n) for n in ("a", "b", "c")] + [node("m", pool="master")]
    reports = [
        report("a"),
        report("b"),
        report("c", fingerprint="sha256:odd"),
        report("m", fingerprint="sha256:master", mco="rendered-master-abc123"),
    ]
    result = summary(reports, nodes)
    assert {row.node for row in result.nodes if row.drift} == {"c"}
    assert result.counts["drift"] == 1


def test_a_pool_with_no_majority_flags_every_node() -> None:
    nodes = [node("a"), node("b")]
    reports = [report("a", fingerprint="sha256:one"), report("b", fingerprint="sha256:two")]
    result = summary(reports, nodes)
    assert {row.node for row in result.nodes if row.drift} == {"a", "b"}
    assert not result.ok


def test_stale_reports_neither_vote_nor_drift() -> None:
    # An ICSP rollout in a 3-node pool: worker-0 is done and re-checked, 1 and 2 are still
    # rolling out. Their stale reports describe the configuration they are leaving: they
    # must not outvote worker-0, nor be drift themselves.
    nodes = [
        node("w0", config="rendered-worker-new"),
        node("w1", config="rendered-worker-old", desired="rendered-worker-new"),
        node("w2", config="rendered-worker-old", desired="rendered-worker-new"),
    ]
    reports = [
        report("w0", fingerprint="sha256:new", mco="rendered-worker-new"),
        report("w1", fingerprint="sha256:old", mco="rendered-worker-old"),
        report("w2", fingerprint="sha256:old", mco="rendered-worker-old"),
    ]
    result = summary(reports, nodes)
    rows = {row.node: (row.status, row.drift) for row in result.nodes}
    assert rows == {"w0": ("reported", False), "w1": ("stale", False), "w2": ("stale", False)}
    assert result.counts["drift"] == 0 and result.counts["stale"] == 2
    # Fresh reports still vote: once w1 is re-checked, a differing fresh w2 is drift.
    nodes[1] = node("w1", config="rendered-worker-new")
    nodes[2] = node("w2", config="rendered-worker-new")
    reports[1] = report("w1", fingerprint="sha256:new", mco="rendered-worker-new")
    reports[2] = report("w2", fingerprint="sha256:old", mco="rendered-worker-new")
    assert {row.node for row in summary(reports, nodes).nodes if row.drift} == {"w2"}


def test_orphaned_reports_are_listed_but_do_not_fail() -> None:
    result = summary([report("a"), report("gone")], [node("a")])
    assert result.counts["orphaned"] == 1 and result.counts["pass"] == 1
    assert {row.node: row.status for row in result.nodes} == {"a": "reported", "gone": "orphaned"}
    assert result.ok
    # An orphan's own verdict does not count either.
    assert summary([report("a"), report("gone", verdict="fail")], [node("a")]).ok
    assert not summary([report("gone")], [node("a")]).ok  # "a" is missing


def test_the_daemonset_controllers_own_tolerations() -> None:
    # The DaemonSet tolerates only its own taint, yet the controller adds tolerations for
    # cordoned, pressured, NotReady and unreachable nodes (and network-unavailable with
    # hostNetwork) to every DaemonSet pod: such nodes are still expected.
    template: dict[str, Any] = {
        "tolerations": [{"key": "node-role.kubernetes.io/infra", "operator": "Exists"}]
    }
    daemonset = {"spec": {"template": {"spec": template}}}
    no_schedule = "NoSchedule"
    nodes = [
        node("ready"),
        node(
            "cordoned", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": no_schedule}]
        ),
        node(
            "notready",
            taints=[
                {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/not-ready", "effect": no_schedule},
            ],
        ),
        node(
            "unreachable",
            taints=[
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/unreachable", "effect": no_schedule},
            ],
        ),
        node(
            "pressure",
            taints=[
                {"key": f"node.kubernetes.io/{kind}-pressure", "effect": no_schedule}
                for kind in ("disk", "memory", "pid")
            ],
        ),
        node("infra", taints=[{"key": "node-role.kubernetes.io/infra", "effect": no_schedule}]),
        node("gpu", taints=[{"key": "gpu", "effect": no_schedule}]),
        node(
            "no-network",
            taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": no_schedule}],
        ),
    ]
    expected = {n["metadata"]["name"]: daemonset_schedules(daemonset, n) for n in nodes}
    assert expected == {
        "ready": True,
        "cordoned": True,
        "notready": True,
        "unreachable": True,
        "pressure": True,
        "infra": True,
        "gpu": False,
        "no-network": False,  # tolerated only by hostNetwork pods
    }
    template["hostNetwork"] = True
    assert daemonset_schedules(daemonset, nodes[-1])
    # Only "ready" reported: the cordoned and the NotReady node are missing, not ignored.
    result = summary([report("ready")], nodes[:3], daemonset=daemonset)
    statuses = {row.node: row.status for row in result.nodes}
    assert statuses == {"ready": "reported", "cordoned": "missing", "notready": "missing"}
    assert result.counts["expected"] == 3 and result.counts["missing"] == 2 and not result.ok


def test_expected_nodes_follow_the_daemonset() -> None:
    daemonset = {
        "spec": {
            "template": {
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [
                        {
                            "key": "node-role.kubernetes.io/master",
                            "operator": "Exists",
                            "effect": "NoSchedule",
                        }
                    ],
                }
            }
        }
    }
    linux = {"kubernetes.io/os": "linux"}
    nodes = [
        node("w", labels=linux),
        node(
            "m",
            pool="master",
            labels=linux,
            taints=[{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}],
        ),
        node("gpu", labels=linux, taints=[{"key": "gpu", "value": "x", "effect": "NoSchedule"}]),
        node("win", labels={"kubernetes.io/os": "windows"}),
        node("soft", labels=linux, taints=[{"key": "x", "effect": "PreferNoSchedule"}]),
    ]
    assert [daemonset_schedules(daemonset, n) for n in nodes] == [True, True, False, False, True]
    result = summary([], nodes, daemonset=daemonset)
    assert result.expected_from == "daemonset"
    assert sorted(r.node for r in result.nodes if r.status == "missing") == ["m", "soft", "w"]


def test_from_file_without_nodes() -> None:
    result = summary([report("a"), report("b", verdict="fail")], None)
    assert result.expected_from == "reports"
    assert result.counts["expected"] == 2 and result.counts["missing"] == 0
    assert result.counts["fail"] == 1


def test_newest_report_per_node_wins_and_broken_reports_are_errors() -> None:
    broken = configmap(report("b"))
    broken["data"]["report.json"] = "{not json"
    reports = [
        configmap(report("a", verdict="fail", checked="2026-11-25T09:00:00Z")),
        configmap(report("a", checked="2026-11-25T11:00:00Z")),
        broken,
    ]
    result = summarise(reports, [node("a"), node("b")], daemonset=None, now=NOW, max_age=None)
    verdicts = {row.node: row.verdict for row in result.nodes}
    assert verdicts == {"a": "pass", "b": "error"}


def test_node_pool() -> None:
    assert node_pool(node("x", config="rendered-infra-1234")) == "infra"
    assert node_pool({"metadata": {"labels": {"node-role.kubernetes.io/worker": ""}}}) == "worker"
    assert node_pool({"metadata": {}}) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21600), ("1h30m", 5400), ("2d", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "6", "h", "6x", "-1h", "0s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


# --- the report ConfigMap -------------------------------------------------------------


def test_configmap_name_is_dns1123_and_hashed_when_needed() -> None:
    assert configmap_name("worker-0.example.com") == "mirror-agent-report-worker-0.example.com"
    long = "n" * 250 + ".example.com"
    hashed = configmap_name(long)
    assert len(hashed) <= 253 and hashed != configmap_name(long + "x")
    assert configmap_name("Worker_0").startswith("mirror-agent-report-worker-0-")


def test_configmap_labels_owner_and_mco_state() -> None:
    owner = node("worker-0", config="rendered-worker-old", desired="rendered-worker-new")
    owner["metadata"]["annotations"]["machineconfiguration.openshift.io/state"] = "Working"
    plain = dataclasses.replace(report("worker-0", verdict="warn"), extra={})
    cm = report_configmap(plain, namespace="ns", node=owner)
    meta = cm["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/name": "mirror-agent",
        "app.kubernetes.io/component": "report",
        "mirror-agent.io/verdict": "warn",
    }
    assert meta["annotations"] == {"mirror-agent.io/node": "worker-0"}
    assert meta["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "worker-0", "uid": "uid-worker-0"}
    ]
    document = json.loads(cm["data"]["report.json"])
    assert document["machineConfig"] == {  # read from the Node, not carried by the report
        "currentConfig": "rendered-worker-old",
        "desiredConfig": "rendered-worker-new",
        "state": "Working",
    }
    assert document["verdict"] == "warn"


def test_oversized_report_loses_logs_first_never_verdicts() -> None:
    images = tuple(
        ImageResult(
            image=f"{IMAGE}-{n}",
            verdict="fail",
            log="x" * 400_000,
            findings=(Finding("not-served", "fail", "nothing served it"),),
        )
        for n in range(6)
    )
    big = CheckReport(node="a", checked_at="2026-11-25T11:00:00Z", verdict="fail", images=images)
    cm = report_configmap(big, namespace="ns", node=None)
    text = cm["data"]["report.json"]
    assert len(text.encode()) <= CONFIGMAP_LIMIT
    document = json.loads(text)
    assert [i["verdict"] for i in document["images"]] == ["fail"] * 6
    assert all(i["findings"][0]["code"] == "not-served" for i in document["images"])
    assert all(i["log"] is None or len(i["log"]) < 400_000 for i in document["images"])


def test_report_json_types_are_checked_field_by_field() -> None:
    """Issue 10 §1: agent.report.check_report_json names the first field at fault."""
    import pytest

    from agent.report import CheckReport, InvalidReport, check_report_json

    good = {"node": "n", "verdict": "pass", "images": [{"image": "a", "verdict": "pass"}]}
    assert check_report_json(good) is good
    for bad, named in (
        ([1, 2], "must be a JSON object, not a list"),
        ({"node": 5}, "node must be a string, not a number"),
        (
            {"images": [{"image": "a", "verdict": "pass", "attempts": [{"location": 1}]}]},
            "images[0].attempts[0].location must be a string",
        ),
        (
            {"images": [{"image": "a", "verdict": "pass", "rounds": "3"}]},
            "images[0].rounds must be a number",
        ),
        ({"machineConfig": {"currentConfig": ["x"]}}, "machineConfig.currentConfig"),
        ({"registriesConf": {"files": [1]}}, "registriesConf.files[0]"),
    ):
        with pytest.raises(InvalidReport, match=re.escape(named)):
            check_report_json(bad)
    with pytest.raises(InvalidReport, match="checkedAt is missing"):
        CheckReport.from_json({"node": "n", "verdict": "pass", "schemaVersion": 1})


def test_no_report_at_all_while_nodes_are_expected_is_a_warning() -> None:
    """After an upgrade from a version that published in mirror-agent, the reports
    namespace is empty: the summary says where it looked (the reader's text)."""
    text = "no node report in namespace mirror-agent-reports: ..."
    empty = summary([], [node("a"), node("b")], no_report_warning=text)
    assert empty.warnings == [text] and empty.to_json()["warnings"] == [text]
    assert [row.status for row in empty.nodes] == ["missing", "missing"]  # still listed
    assert summary([report("a")], [node("a"), node("b")], no_report_warning=text).warnings == []
    assert summary([], [], no_report_warning=text).warnings == []  # no node: nothing to say
    assert summary([], [node("a")]).warnings == []  # no text given (--from-file)
