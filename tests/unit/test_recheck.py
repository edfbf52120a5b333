"""``agent recheck``'s key: its format read leniently, requests that accumulate per
target, what a node's report names, and collect's progress per request."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import yaml

from agent.collect import summarise
from agent.commands.recheck import seen_requests
from agent.kube.contract import (
    RECHECK_KEY,
    parse_recheck,
    recheck_requests,
    recheck_seen,
    recheck_text,
)
from agent.kube.publish import report_configmap
from agent.report import CheckReport
from tests.support.data import PROJECT_ROOT
from tests.support.monitoring import node_object

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_requests_accumulate_per_target() -> None:
    text = recheck_text({}, "all", "a1", "2030-01-01T10:00:00Z")
    text = recheck_text(recheck_requests(text), "worker-1", "b1", "2030-01-01T10:01:00Z")
    text = recheck_text(recheck_requests(text), "all", "a2", "2030-01-01T10:02:00Z")
    requests = recheck_requests(text)
    assert requests == {
        "all": {"id": "a2", "requestedAt": "2030-01-01T10:02:00Z"},
        "worker-1": {"id": "b1", "requestedAt": "2030-01-01T10:01:00Z"},
    }
    assert recheck_seen(requests, "worker-1") == {"all": "a2", "node": "b1"}
    assert recheck_seen(requests, "worker-2") == {"all": "a2"}


def test_an_unreadable_key_holds_no_request() -> None:
    for text in ("", "{", "[]", '{"all": "x", "nodes": []}', '{"all": {"id": 3}}'):
        assert recheck_requests(text) == {}, text


def test_seen_requests_read_the_mounted_key(tmp_path: Path) -> None:
    images = tmp_path / "images.txt"
    assert seen_requests(images, "worker-1") == {}
    assert seen_requests(None, "worker-1") == {}
    (tmp_path / RECHECK_KEY).write_text(recheck_text({}, "worker-1", "b1", "2030-01-01T10:00:00Z"))
    assert seen_requests(images, "worker-1") == {"node": "b1"}
    assert seen_requests(images, "worker-2") == {}


def test_collect_tells_who_checked_since() -> None:
    def configmap(node: str, seen: dict[str, str]) -> dict[str, object]:
        extra: dict[str, object] = {"recheck": seen} if seen else {}
        report = CheckReport(node=node, checked_at="2030-01-01T11:00:00Z", verdict="pass",
                             extra=extra)  # fmt: skip
        return report_configmap(report, namespace="mirror-agent", node=None)

    text = recheck_text({}, "all", "a1", "2030-01-01T10:00:00Z")
    text = recheck_text(recheck_requests(text), "worker-b", "b1", "2030-01-01T10:01:00Z")
    text = recheck_text(recheck_requests(text), "gone", "b2", "2030-01-01T10:02:00Z")
    reports = [configmap("worker-a", {"all": "a1"}), configmap("worker-b", {"all": "old"})]
    nodes = [node_object(n) for n in ("worker-a", "worker-b", "worker-c")]
    summary = summarise(reports, nodes, daemonset=None, now=NOW, max_age=None, recheck=text)
    every, one = summary.recheck  # the request for a node that is gone is left out
    assert (every.target, every.checked, every.waiting) == (
        "all", ("worker-a",), ("worker-b", "worker-c"),
    )  # fmt: skip
    assert (one.target, one.checked, one.waiting) == ("worker-b", (), ("worker-b",))
    document = summary.to_json()
    assert document["recheck"][0] == {
        "target": "all", "id": "a1", "requestedAt": "2030-01-01T10:00:00Z",
        "checked": ["worker-a"], "waiting": ["worker-b", "worker-c"],
    }  # fmt: skip
    without = summarise(reports, nodes, daemonset=None, now=NOW, max_age=None)
    assert "recheck" not in json.loads(json.dumps(without.to_json()))


def test_the_daemonset_mounts_the_whole_checks_configmap() -> None:
    """recheck.json reaches the agents only if no `items:` list picks the keys."""
    documents = yaml.safe_load_all((PROJECT_ROOT / "daemonset" / "daemonset.yaml").read_text())
    (daemonset,) = [d for d in documents if d and d["kind"] == "DaemonSet"]
    (checks,) = [v for v in daemonset["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == "checks"]  # fmt: skip
    assert checks["configMap"]["name"] == "mirror-agent-checks"
    assert "items" not in checks["configMap"]


def test_requests_agent_recheck_would_not_write_are_left_out_and_said() -> None:
    text = json.dumps(
        {
            "all": {"id": "i" * 100_000, "requestedAt": "x"},
            "nodes": {
                "worker-1": {"id": "ab12", "requestedAt": "2030-01-01T10:00:00Z"},
                "worker-2": {"id": "ab12", "requestedAt": "\x1b]0;x" * 1000},
            },
        }
    )
    requests, problem = parse_recheck(text)
    assert requests == {"worker-1": {"id": "ab12", "requestedAt": "2030-01-01T10:00:00Z"}}
    assert problem.startswith("recheck.json: 2 request(s) left out (all, worker-2)")
    assert parse_recheck("[" * 100_000)[1] == "recheck.json: nested more than 100 levels deep"
