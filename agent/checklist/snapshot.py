"""What the checklist read from the cluster, reduced to what its items need (pure).

Every field is an object or list as the API returned it, ``None`` for an object that does
not exist, or :class:`~agent.checklist.model.Unavailable` when it could not be read (a
missing permission is recorded there, and only the items that need it are affected).
Node reports are reduced as they stream in; their effective registries entries are kept
once per fingerprint, since most nodes of a pool share one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from agent.checklist.model import FetchedList, FetchedObject, Unavailable
from agent.collect import daemonset_schedules, node_pool
from agent.documents import DocumentError, parse_json
from agent.kube.contract import (
    CHECKLIST_KEY,
    CURRENT_CONFIG,
    DESIRED_CONFIG,
    MCD_STATE,
    NODE_ANNOTATION,
    REPORT_KEY,
    reports_namespace,
)
from agent.report import InvalidReport, check_report_json
from agent.vocabulary import Json

MACHINE_API_NAMESPACE = "openshift-machine-api"
SIGNATURES_NAMESPACE = "openshift-config-managed"
SIGNATURES_LABEL = "release.openshift.io/verification-signatures"
PAUSED_ANNOTATION = "cluster.x-k8s.io/paused"


@dataclass(frozen=True)
class ImageCheck:
    """One image of a node report, reduced."""

    image: str
    reference: Optional[str]
    verdict: str
    served_by: Optional[str]
    served_by_kind: Optional[str]
    attempts: tuple[
        tuple[str, Optional[str], str, Optional[str]], ...
    ] = ()  # loc, kind, outcome, reason
    findings: tuple[str, ...] = ()  # "code: message" of findings that are not info
    holders: tuple[str, ...] = ()  # mirror locations a probe found holding the image

    @property
    def contacted_source(self) -> bool:
        """A source attempt that went to the network (a blocked source is refused locally)."""
        return any(kind == "source" and reason != "blocked" for _, kind, _, reason in self.attempts)

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "verdict": self.verdict,
            "servedBy": self.served_by,
            "servedByKind": self.served_by_kind,
            "findings": list(self.findings),
        }


@dataclass(frozen=True)
class NodeReport:
    node: str
    configmap: str
    checked_at: Optional[str]
    verdict: str
    fingerprint: Optional[str]
    machine_config: Mapping[str, Optional[str]] = field(default_factory=dict)
    images: tuple[ImageCheck, ...] = ()
    findings: tuple[str, ...] = ()
    has_effective: bool = False
    effective_omitted: bool = False
    readable: bool = True


def _image_check(data: Mapping[str, Any]) -> ImageCheck:
    return ImageCheck(
        image=str(data.get("image", "?")),
        reference=data.get("reference"),
        verdict=str(data.get("verdict", "error")),
        served_by=data.get("servedBy"),
        served_by_kind=data.get("servedByKind"),
        attempts=tuple(
            (str(a.get("location", "")), a.get("kind"), str(a.get("outcome", "")), a.get("reason"))
            for a in data.get("attempts") or []
            if isinstance(a, Mapping)
        ),
        findings=tuple(
            f"{f.get('code')}: {f.get('message')}"
            for f in data.get("findings") or []
            if isinstance(f, Mapping) and f.get("severity") != "info"
        ),
        holders=tuple(
            str(p.get("location"))
            for p in data.get("probes") or []
            if isinstance(p, Mapping) and p.get("available") is True and p.get("location")
        ),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_report(configmap: Mapping[str, Any]) -> Optional[tuple[NodeReport, Optional[list[Json]]]]:
    """A report ConfigMap: the reduced report and its effective entries (None if absent)."""
    metadata = _mapping(configmap.get("metadata"))
    name = metadata["name"] if isinstance(metadata.get("name"), str) else "?"
    text = _mapping(configmap.get("data")).get(REPORT_KEY)
    if not text:
        return None
    annotated = _mapping(metadata.get("annotations")).get(NODE_ANNOTATION)
    node = annotated if isinstance(annotated, str) and annotated else None
    source = f"{REPORT_KEY} of ConfigMap {name}"
    try:
        if not isinstance(text, str):
            raise InvalidReport("not a string")
        report = check_report_json(parse_json(text, source))
    except (DocumentError, InvalidReport) as exc:
        where = "" if isinstance(exc, DocumentError) else f"{source}: "
        problem = f"invalid-report: {where}{exc}"
        invalid = NodeReport(
            node or name, name, None, "error", None, findings=(problem,), readable=False
        )
        return invalid, None
    conf = report.get("registriesConf") or {}
    effective = conf.get("effective")
    if not isinstance(effective, list):
        effective = None
    return (
        NodeReport(
            node=str(node or report.get("node") or name),
            configmap=name,
            checked_at=report.get("checkedAt"),
            verdict=report.get("verdict") or "error",
            fingerprint=conf.get("fingerprint"),
            machine_config=report.get("machineConfig") or {},
            images=tuple(
                _image_check(i) for i in report.get("images") or [] if isinstance(i, dict)
            ),
            findings=tuple(
                f"{f.get('code')}: {f.get('message')}"
                for f in report.get("findings") or []
                if isinstance(f, Mapping) and f.get("severity") != "info"
            ),
            has_effective=effective is not None,
            effective_omitted=bool(conf.get("effectiveOmitted")),
        ),
        effective,
    )


class Reports:
    """The newest report of each node, and effective entries once per fingerprint."""

    def __init__(self) -> None:
        self.by_node: dict[str, NodeReport] = {}
        self.effective: dict[str, list[Json]] = {}

    def add(self, configmap: Mapping[str, Any]) -> Optional[NodeReport]:
        parsed = parse_report(configmap)
        if parsed is None:
            return None
        report, effective = parsed
        previous = self.by_node.get(report.node)
        if previous and (previous.checked_at or "") > (report.checked_at or ""):
            return previous
        self.by_node[report.node] = report
        if (
            effective is not None
            and report.fingerprint
            and report.fingerprint not in self.effective
        ):
            self.effective[report.fingerprint] = effective
        return report

    @classmethod
    def of(cls, configmaps: Iterable[Mapping[str, Any]]) -> Reports:
        reports = cls()
        for configmap in configmaps:
            reports.add(configmap)
        return reports

    def merge(self, other: Reports) -> None:
        """Take ``other``'s reports (newer ones win) and effective entries."""
        for node, report in other.by_node.items():
            previous = self.by_node.get(node)
            if previous is None or (previous.checked_at or "") <= (report.checked_at or ""):
                self.by_node[node] = report
        for fingerprint, effective in other.effective.items():
            self.effective.setdefault(fingerprint, effective)

    def effective_of(self, report: NodeReport) -> Optional[list[Json]]:
        return self.effective.get(report.fingerprint or "") if report.has_effective else None


@dataclass(frozen=True)
class NodeState:
    name: str
    ready: bool
    ready_reason: str
    unschedulable: bool
    expected: bool  # the DaemonSet runs a pod there
    pool: Optional[str]
    current_config: Optional[str]
    desired_config: Optional[str]
    mcd_state: Optional[str]

    @property
    def rolling_out(self) -> bool:
        return bool(self.desired_config) and self.desired_config != self.current_config

    @classmethod
    def of(cls, node: Mapping[str, Any], daemonset: Optional[Mapping[str, Any]]) -> NodeState:
        metadata = node.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        conditions = (node.get("status") or {}).get("conditions") or []
        ready: Mapping[str, Any] = next(
            (c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), {}
        )
        return cls(
            name=str(metadata.get("name", "?")),
            ready=ready.get("status") == "True",
            ready_reason=str(ready.get("reason") or ready.get("message") or "no Ready condition"),
            unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
            expected=daemonset is None or daemonset_schedules(dict(daemonset), dict(node)),
            pool=node_pool(dict(node)),
            current_config=annotations.get(CURRENT_CONFIG),
            desired_config=annotations.get(DESIRED_CONFIG),
            mcd_state=annotations.get(MCD_STATE),
        )


@dataclass
class Snapshot:
    """Everything read from the cluster (see the module docstring for the value forms)."""

    server: str = ""
    namespace: str = "mirror-agent"  # the DaemonSet's and its checks ConfigMap's
    reports_namespace: str = ""  # the node reports' ("": namespace + -reports)
    cluster_version: FetchedObject = None
    nodes: FetchedList = field(default_factory=list)
    pools: FetchedList = field(default_factory=list)
    health_checks: FetchedList = field(default_factory=list)
    budgets: FetchedList = field(default_factory=list)
    icsps: FetchedList = field(default_factory=list)
    idmss: FetchedList = field(default_factory=list)
    itmss: FetchedList = field(default_factory=list)
    image_config: FetchedObject = None
    signatures: FetchedList = field(default_factory=list)
    daemonset: FetchedObject = None
    checks: FetchedObject = None
    reports: Union[Reports, Unavailable] = field(default_factory=Reports)

    def __post_init__(self) -> None:
        if not self.reports_namespace:
            self.reports_namespace = reports_namespace(self.namespace)

    def node_states(self) -> Union[list[NodeState], Unavailable]:
        if isinstance(self.nodes, Unavailable):
            return self.nodes
        daemonset = self.daemonset if isinstance(self.daemonset, dict) else None
        return sorted((NodeState.of(n, daemonset) for n in self.nodes), key=lambda s: s.name)


def checklist_lines(checks: FetchedObject) -> list[str]:
    """The lines of the checks ConfigMap's ``checklist.txt`` (references with options)."""
    if not isinstance(checks, dict):
        return []
    text = (checks.get("data") or {}).get(CHECKLIST_KEY) or ""
    return [line for line in text.splitlines() if line.split("#", 1)[0].strip()]
