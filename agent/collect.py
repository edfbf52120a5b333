"""``agent collect``: one summary of every node's report (pure functions over fetched objects).

Reports are consumed one at a time and reduced to a small per-node summary, so memory
grows with the number of nodes, not with the size of their reports.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Optional

from agent.documents import DocumentError, parse_json
from agent.kube.contract import (
    CURRENT_CONFIG,
    DESIRED_CONFIG,
    NODE_ANNOTATION,
    RECHECK_ALL,
    REPORT_KEY,
    recheck_requests,
)
from agent.report import VERDICTS, InvalidReport, check_report_json
from agent.schema import COLLECT_SCHEMA_VERSION


def parse_time(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


#: How far ahead of this machine's clock a report's checkedAt may be (clocks differ a little).
CLOCK_SKEW = timedelta(minutes=5)


def future_reason(checked: datetime, now: datetime) -> Optional[str]:
    """Why a report dated ``checked`` cannot be fresh at ``now``: dated in the future (a
    node's clock ahead, or a forged date) it would otherwise look fresh forever."""
    if checked - now > CLOCK_SKEW:
        return f"checkedAt is in the future ({_age(checked - now)} ahead of this clock)"
    return None


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``6h``, ``2d``, or combinations like ``1h30m``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total, number = 0.0, ""
    for char in text.strip():
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise ValueError(f"invalid duration {text!r}: use e.g. 30m, 6h, 2d")
    if number or total <= 0:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30m, 6h, 2d")
    return timedelta(seconds=total)


# reported: a current report; missing: none from an expected node; stale: older than
# --max-age, undated, or from before the node's Machine Config rollout; orphaned: from a
# node that is not in the cluster; unknown: none from a node of a guessed expected set (the
# DaemonSet could not be read, so the node may run no agent at all).
NodeStatus = Literal["reported", "missing", "stale", "orphaned", "unknown"]


@dataclass
class NodeRow:
    node: str
    status: NodeStatus
    verdict: Optional[str] = None
    checked_at: Optional[str] = None
    fingerprint: Optional[str] = None
    pool: Optional[str] = None
    drift: bool = False
    stale_reason: Optional[str] = None
    # (image, served by, its kind, the image's verdict) per image checked
    served: list[tuple[str, Optional[str], Optional[str], str]] = field(default_factory=list)
    # image -> digest of the manifest served, when the report says (servedDigest)
    digests: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # "code: message" of non-info findings
    machine_config: dict[str, Any] = field(default_factory=dict)  # MCO state when checked
    # The mirrors (locations as tried) a pull attempt failed at, whatever served it after
    failed_mirrors: list[str] = field(default_factory=list)
    recheck_seen: dict[str, str] = field(default_factory=dict)  # agent recheck ids it saw

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "status": self.status,
            "verdict": self.verdict,
            "checkedAt": self.checked_at,
            "fingerprint": self.fingerprint,
            "pool": self.pool,
            "drift": self.drift,
            "staleReason": self.stale_reason,
            "images": [
                {
                    "image": image,
                    "servedBy": served,
                    "servedByKind": kind,
                    "servedDigest": self.digests.get(image),
                    "verdict": verdict,
                }
                for image, served, kind, verdict in self.served
            ],
            "findings": self.findings,
        }


@dataclass(frozen=True)
class RecheckProgress:
    """An ``agent recheck`` request and the nodes that have checked since (their report
    names its id) or not yet."""

    target: str  # a node, or "all"
    request_id: str
    requested_at: str
    checked: tuple[str, ...]
    waiting: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "id": self.request_id,
            "requestedAt": self.requested_at,
            "checked": list(self.checked),
            "waiting": list(self.waiting),
        }


@dataclass
class Summary:
    nodes: list[NodeRow]
    images: list[dict[str, Any]]
    counts: dict[str, int]
    expected_from: str  # how the expected node list was derived
    # True when the expected nodes are a guess (the DaemonSet could not be read)
    expected_approximate: bool = False
    warnings: list[str] = field(default_factory=list)
    recheck: list[RecheckProgress] = field(default_factory=list)

    def to_json(self, *, nodes: bool = True) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schemaVersion": COLLECT_SCHEMA_VERSION,
            "summary": self.counts,
            "expectedFrom": self.expected_from,
            "expectedApproximate": self.expected_approximate,
            "warnings": self.warnings,
            "images": self.images,
        }
        if self.recheck:
            document["recheck"] = [progress.to_json() for progress in self.recheck]
        if nodes:
            document["nodes"] = [row.to_json() for row in self.nodes]
        return document

    @property
    def ok(self) -> bool:
        """Every expected node has a fresh, passing report. Orphaned reports (their node no
        longer exists) are listed, but say nothing about the nodes there are."""
        bad = ("fail", "error", "missing", "stale", "drift")
        return all(self.counts[key] == 0 for key in bad)


def _mapping(value: Any) -> dict[str, Any]:
    """A Kubernetes object's field that should be a mapping: anything else reads as empty
    (objects from ``--from-file`` may be hand-made)."""
    return value if isinstance(value, dict) else {}


def _mappings(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for toleration in tolerations:
        operator = toleration.get("operator", "Equal")
        key = toleration.get("key")
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        if operator == "Exists" and (not key or key == taint.get("key")):
            return True
        if (
            operator == "Equal"
            and key == taint.get("key")
            and toleration.get("value", "") == taint.get("value", "")
        ):
            return True
    return False


class NodeInfo:
    """What the summary needs of a Node; thousands of these stay small."""

    __slots__ = ("current_config", "desired_config", "expected", "name", "pool")

    def __init__(
        self,
        name: str,
        expected: bool,
        pool: Optional[str],
        current_config: Optional[str],
        desired_config: Optional[str],
    ) -> None:
        self.name = name
        self.expected = expected
        self.pool = pool
        self.current_config = current_config
        self.desired_config = desired_config

    @classmethod
    def of(cls, node: dict[str, Any], daemonset: Optional[dict[str, Any]]) -> Optional[NodeInfo]:
        metadata = _mapping(node.get("metadata"))
        name = metadata.get("name")
        if not isinstance(name, str):
            return None
        annotations = _mapping(metadata.get("annotations"))
        expected = daemonset is None or daemonset_schedules(daemonset, node)
        pool = node_pool(node)
        return cls(
            name,
            expected,
            sys.intern(pool) if pool else None,
            _shared(annotations.get(CURRENT_CONFIG)),
            _shared(annotations.get(DESIRED_CONFIG)),
        )


# The tolerations the DaemonSet controller adds to every DaemonSet pod by itself
# (kubernetes pkg/controller/daemon/util/daemonset_util.go AddOrUpdateDaemonPodTolerations):
# a cordoned or pressured node gets its DaemonSet pod, a NotReady or unreachable one keeps it.
DAEMON_POD_TOLERATIONS: tuple[dict[str, str], ...] = tuple(
    {"key": key, "operator": "Exists", "effect": effect}
    for key, effect in (
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    )
)
HOST_NETWORK_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}
# When a node stops being Ready the node lifecycle controller adds these keys with NoSchedule
# too: the controller then creates no new pod there, but the pod already running stays
# (NodeShouldRunDaemonPod's shouldContinueRunning: only NoExecute taints evict it), so
# the node is still expected to report.
NODE_DOWN_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def daemonset_schedules(daemonset: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether the DaemonSet runs a pod there: nodeSelector, NoSchedule/NoExecute taints
    against the template's tolerations plus those the DaemonSet controller adds."""
    spec = _mapping(_mapping(_mapping(daemonset.get("spec")).get("template")).get("spec"))
    labels = _mapping(_mapping(node.get("metadata")).get("labels"))
    for key, value in _mapping(spec.get("nodeSelector")).items():
        if labels.get(key) != value:
            return False
    tolerations = [*_mappings(spec.get("tolerations")), *DAEMON_POD_TOLERATIONS]
    if spec.get("hostNetwork"):
        tolerations.append(HOST_NETWORK_TOLERATION)
    for taint in _mappings(_mapping(node.get("spec")).get("taints")):
        effect = taint.get("effect")
        if effect == "NoSchedule" and taint.get("key") in NODE_DOWN_TAINTS:
            continue
        if effect in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
            return False
    return True


def node_pool(node: dict[str, Any]) -> Optional[str]:
    """The MachineConfigPool: from ``rendered-<pool>-<hash>``, else the node-role label."""
    annotations = _mapping(_mapping(node.get("metadata")).get("annotations"))
    rendered = str(annotations.get(CURRENT_CONFIG, ""))
    if rendered.startswith("rendered-") and rendered.count("-") >= 2:
        return rendered[len("rendered-") : rendered.rindex("-")]
    labels = _mapping(_mapping(node.get("metadata")).get("labels"))
    roles = sorted(
        key.split("/", 1)[1]
        for key in labels
        if isinstance(key, str) and key.startswith("node-role.kubernetes.io/")
    )
    return "master" if "master" in roles else (roles[0] if roles else None)


def summarise(
    reports: Iterable[dict[str, Any]],
    nodes: Optional[Iterable[dict[str, Any]]],
    *,
    daemonset: Optional[dict[str, Any]],
    now: datetime,
    max_age: Optional[timedelta],
    daemonset_problem: Optional[str] = None,
    recheck: Optional[str] = None,
    no_report_warning: Optional[str] = None,
) -> Summary:
    """Reduce report ConfigMaps and Nodes to the cluster summary.

    Without a node list (``nodes`` is None: reports read from a file), the reported nodes
    are the expected ones: nothing can be missing or orphaned, and staleness is by age only.
    Without the DaemonSet (``daemonset_problem`` says why it could not be read), the
    expected set is approximated by every node: a node without a report is ``unknown``
    (it may run no agent at all: a Windows node, a selector), not ``missing``, and a
    warning says so. ``no_report_warning`` is added to the warnings when ``reports`` holds
    no ConfigMap at all while nodes are expected (the reader names where it looked).
    """
    # Each Node is reduced to the few facts the summary needs as it streams in.
    infos: dict[str, NodeInfo] = {}
    for node in nodes or []:
        info = NodeInfo.of(node, daemonset)
        if info is not None:
            infos[info.name] = info
    if nodes is None:
        expected_from = "reports"
    elif daemonset is not None:
        expected_from = "daemonset"
    else:
        expected_from = "all-nodes"
    expected = {name for name, info in infos.items() if info.expected}
    approximate = nodes is not None and daemonset is None and daemonset_problem is not None
    warnings = []
    if approximate:
        warnings.append(
            "the DaemonSet could not be read"
            + (f" ({daemonset_problem})" if daemonset_problem else "")
            + ": the expected nodes are approximated by every node; a node without a report "
            "is shown as unknown, not missing"
        )

    rows: dict[str, NodeRow] = {}
    image_served: dict[str, Counter[str]] = {}
    image_digests: dict[str, Counter[str]] = {}
    image_verdicts: dict[str, Counter[str]] = {}
    read_any = False
    for configmap in reports:
        read_any = True
        row = _row_from_configmap(configmap)
        if row is None:
            continue
        previous = rows.get(row.node)
        if previous and (previous.checked_at or "") >= (row.checked_at or ""):
            continue
        rows[row.node] = row
    if nodes is None:
        expected = set(rows)
        infos = {name: NodeInfo(name, True, None, None, None) for name in rows}
    for row in rows.values():
        found = infos.get(row.node)
        if found is None:
            row.status = "orphaned"
            continue
        row.pool = found.pool
        stale = _stale_reason(row, found, now, max_age)
        if stale:
            row.status, row.stale_reason = "stale", stale
        for image, served, _kind, verdict in row.served:
            image_served.setdefault(image, Counter())[served or "nothing"] += 1
            image_verdicts.setdefault(image, Counter())[verdict] += 1
            if image in row.digests:
                image_digests.setdefault(image, Counter())[row.digests[image]] += 1
    if no_report_warning and not read_any and expected:
        warnings.append(no_report_warning)
    for name in expected:
        if name not in rows:
            status: NodeStatus = "unknown" if approximate else "missing"
            rows[name] = NodeRow(node=name, status=status, pool=infos[name].pool)
    _mark_drift(rows.values())

    ordered = sorted(rows.values(), key=lambda r: r.node)
    counts: dict[str, int] = {
        "expected": len(expected),
        "reported": sum(1 for r in ordered if r.status in ("reported", "stale")),
        **{
            verdict: sum(1 for r in ordered if r.verdict == verdict and r.status != "orphaned")
            for verdict in VERDICTS
        },
        "missing": sum(1 for r in ordered if r.status == "missing"),
        "unknown": sum(1 for r in ordered if r.status == "unknown"),
        "stale": sum(1 for r in ordered if r.status == "stale"),
        "orphaned": sum(1 for r in ordered if r.status == "orphaned"),
        "drift": sum(1 for r in ordered if r.drift),
    }
    images = [
        {
            "image": image,
            "nodes": sum(image_served[image].values()),
            "servedBy": dict(sorted(image_served[image].items())),
            "verdicts": dict(sorted(image_verdicts.get(image, Counter()).items())),
            # more than one: nodes were served different content for the same reference
            "servedDigests": dict(sorted(image_digests.get(image, Counter()).items())),
        }
        for image in sorted(image_served)
    ]
    progress = _recheck_progress(recheck_requests(recheck or ""), ordered)
    return Summary(
        ordered,
        images,
        counts,
        expected_from,
        expected_approximate=approximate,
        warnings=warnings,
        recheck=progress,
    )


def _recheck_progress(
    requests: dict[str, dict[str, str]], rows: list[NodeRow]
) -> list[RecheckProgress]:
    """Per request of ``recheck.json`` (``recheck``), which of the cluster's nodes have
    checked since: their latest report names the request's id."""
    present = [row for row in rows if row.status != "orphaned"]
    progress = []
    for target, request in sorted(requests.items(), key=lambda item: item[0] != RECHECK_ALL):
        key = "all" if target == RECHECK_ALL else "node"
        concerned = present if target == RECHECK_ALL else [r for r in present if r.node == target]
        if not concerned:
            continue  # a request for a node that is gone
        done = tuple(r.node for r in concerned if r.recheck_seen.get(key) == request["id"])
        waiting = tuple(r.node for r in concerned if r.node not in done)
        progress.append(
            RecheckProgress(target, request["id"], request["requestedAt"], done, waiting)
        )
    return progress


def _invalid_row(node: str, problem: str) -> NodeRow:
    """A report that cannot be read: its node shows an error; the summary goes on."""
    return NodeRow(
        node=node, status="reported", verdict="error", findings=[f"invalid-report: {problem}"]
    )


def _row_from_configmap(configmap: dict[str, Any]) -> Optional[NodeRow]:
    metadata = _mapping(configmap.get("metadata"))
    annotated = _mapping(metadata.get("annotations")).get(NODE_ANNOTATION)
    name: str = metadata["name"] if isinstance(metadata.get("name"), str) else "?"
    node = annotated if isinstance(annotated, str) and annotated else None
    text = _mapping(configmap.get("data")).get(REPORT_KEY)
    if not text:
        return None
    if not isinstance(text, str):
        return _invalid_row(node or name, f"{REPORT_KEY} of ConfigMap {name} is not a string")
    try:
        report = check_report_json(parse_json(text, f"{REPORT_KEY} of ConfigMap {name}"))
    except DocumentError as exc:
        return _invalid_row(node or name, str(exc))
    except InvalidReport as exc:
        return _invalid_row(node or name, f"{REPORT_KEY} of ConfigMap {name}: {exc}")
    row = NodeRow(
        node=node or report.get("node") or name,
        status="reported",
        verdict=report.get("verdict") or "error",
        checked_at=report.get("checkedAt"),
        fingerprint=(report.get("registriesConf") or {}).get("fingerprint"),
    )
    # Thousands of nodes report the same images, mirrors and fingerprints: share the strings.
    row.fingerprint = _shared(row.fingerprint)
    row.served = [
        (
            _shared(image.get("image", "?")) or "?",
            _shared(image.get("servedBy")),
            _shared(image.get("servedByKind")),
            _shared(image.get("verdict", "error")) or "error",
        )
        for image in report.get("images") or []
    ]
    row.digests = {
        image["image"]: sys.intern(image["servedDigest"])
        for image in report.get("images") or []
        if image.get("servedDigest")
    }
    row.findings = [
        f"{finding.get('code')}: {finding.get('message')}"
        for image in report.get("images") or []
        for finding in image.get("findings") or []
        if finding.get("severity") != "info"
    ] + [
        f"{finding.get('code')}: {finding.get('message')}"
        for finding in report.get("findings") or []
        if finding.get("severity") != "info"
    ]
    row.machine_config = report.get("machineConfig") or {}
    seen = report.get("recheck")
    if isinstance(seen, dict):
        row.recheck_seen = {str(k): str(v) for k, v in seen.items()}
    row.failed_mirrors = [
        _shared(str(attempt.get("location"))) or "?"
        for image in report.get("images") or []
        for attempt in image.get("attempts") or []
        if attempt.get("kind") == "mirror" and attempt.get("outcome") in ("failed", "hung")
    ]
    return row


def _shared(text: Optional[str]) -> Optional[str]:
    return sys.intern(text) if isinstance(text, str) else None


def _stale_reason(
    row: NodeRow, node: NodeInfo, now: datetime, max_age: Optional[timedelta]
) -> Optional[str]:
    checked = parse_time(row.checked_at)
    if checked is None:
        return "the report has no valid checkedAt"
    if checked.tzinfo is None:
        return f"checkedAt {row.checked_at} has no time zone"
    future = future_reason(checked, now)
    if future:
        return future
    if max_age is not None and now - checked > max_age:
        return f"checked {_age(now - checked)} ago (older than --max-age)"
    recorded = row.machine_config
    current = node.current_config
    if current and recorded.get("currentConfig") and recorded["currentConfig"] != current:
        return f"checked under {recorded['currentConfig']}; the node has rolled out {current} since"
    if node.desired_config and node.desired_config != current:
        return f"a Machine Config rollout to {node.desired_config} is in progress"
    return None


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    return f"{seconds // 60}m"


def _mark_drift(rows: Iterable[NodeRow]) -> None:
    """Within a pool, a fingerprint that differs from the majority of the fresh reports is
    drift. Stale reports neither vote nor count as drift: during a rollout they describe the
    configuration the node is leaving, and would outvote the first nodes already updated."""
    pools: dict[Optional[str], list[NodeRow]] = {}
    for row in rows:
        if row.fingerprint and row.status == "reported":
            pools.setdefault(row.pool, []).append(row)
    for members in pools.values():
        counts = Counter(row.fingerprint for row in members)
        if len(counts) < 2:
            continue
        (majority, top), *rest = counts.most_common()
        tie = bool(rest) and rest[0][1] == top  # no majority: every node of the pool is suspect
        for row in members:
            row.drift = tie or row.fingerprint != majority
