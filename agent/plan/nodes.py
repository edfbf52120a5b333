"""``agent plan --probe-on-nodes``: the new mirrors asked by the nodes themselves, through
the DaemonSet, when the workstation cannot reach them.

The mirror references (``mirror/repository@digest``) are written, one per line with
``# method=manifest``, to the data key ``plan.txt`` of the checks ConfigMap by server-side
apply under the field manager ``mirror-agent-plan`` (the DaemonSet mounts every key; a
change makes every agent check again). Once every expected node has published a report
that checked them, or ``--wait`` passes, the key is removed again. A node pulls a mirror
reference through its own registries.conf, which sends it straight to that mirror (with
the node's credentials, CA and insecure settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

from agent.checklist.fetch import KubeCluster
from agent.checklist.model import Unavailable
from agent.checklist.snapshot import NodeReport, NodeState, Reports
from agent.checklist.wait import Progress, wait_for_reports
from agent.kube.client import ApiError, Forbidden, Unauthorized, configmap_path, node_path
from agent.kube.contract import CHECKS_CONFIGMAP, PLAN_FIELD_MANAGER, PLAN_KEY
from agent.plan.cluster import ClusterUnreadable
from agent.plan.model import ProbeResult
from agent.vocabulary import Json


@dataclass(frozen=True)
class NodeProbes:
    results: tuple[ProbeResult, ...]
    notes: tuple[str, ...]


def plan_lines(locations: Sequence[str], stamp: str) -> str:
    unique = list(dict.fromkeys(locations))
    return "".join(f"{location}  # method=manifest requested={stamp}\n" for location in unique)


def _apply(cluster: KubeCluster, text: Optional[str]) -> str:
    """Server-side apply of ``plan.txt`` (None removes it); the API server's time."""
    ns = cluster.namespace
    body: Json = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CHECKS_CONFIGMAP, "namespace": ns},
    }
    if text is not None:
        body["data"] = {PLAN_KEY: text}
    try:
        stored = cluster.client.apply(
            configmap_path(ns, CHECKS_CONFIGMAP), body, field_manager=PLAN_FIELD_MANAGER
        )
    except Unauthorized:
        raise
    except Forbidden as exc:
        raise ClusterUnreadable(
            f"cannot write configmap {ns}/{CHECKS_CONFIGMAP}: {exc.api_message}",
            hint="--probe-on-nodes needs patch (and create) on configmaps in the agent's "
            "namespace; or use --probe from a machine that reaches the mirrors",
        ) from None
    except ApiError as exc:
        raise ClusterUnreadable(f"patch configmaps in {ns}: {exc}") from None
    for entry in (stored.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == PLAN_FIELD_MANAGER and entry.get("time"):
            return str(entry["time"])
    return ""


def _expected_nodes(cluster: KubeCluster) -> list[str]:
    nodes = cluster.list(node_path(), "nodes")
    if isinstance(nodes, Unavailable):
        raise ClusterUnreadable(f"cannot list nodes: {nodes.text()}")
    ns = cluster.namespace
    daemonset = cluster.get(
        f"/apis/apps/v1/namespaces/{ns}/daemonsets/mirror-agent", ("get", "daemonsets.apps"), ns
    )
    found = daemonset if isinstance(daemonset, dict) else None
    return sorted(state.name for state in (NodeState.of(n, found) for n in nodes) if state.expected)


def _answer(report: NodeReport, location: str) -> tuple[str, str]:
    check = next((i for i in report.images if location in (i.image, i.reference)), None)
    if check is None:
        return "error", f"{report.node}: not checked"
    if check.served_by:
        return "present", ""
    reasons = {reason for _, _, _, reason in check.attempts if reason}
    detail = ", ".join(sorted(reasons)) or "; ".join(check.findings) or check.verdict
    if "manifest-unknown" in reasons:
        return "missing", f"{report.node}: {detail}"
    return "error", f"{report.node}: {detail}"


def node_answers(
    targets: Sequence[tuple[str, str, bool]],
    reports: Reports,
    expected: Sequence[str],
    fresh: Callable[[NodeReport], bool],
) -> list[ProbeResult]:
    """One result per target: missing when a node lacks it, error when a node could not
    ask (or no node answered), present when every answering node was served."""
    answering = [
        reports.by_node[n] for n in expected if n in reports.by_node and fresh(reports.by_node[n])
    ]
    results = []
    for image, location, _insecure in targets:
        answers = [_answer(report, location) for report in answering]
        missing = [message for outcome, message in answers if outcome == "missing"]
        errors = [message for outcome, message in answers if outcome == "error"]
        silent = len(expected) - len(answering)
        tail = f" ({silent} of {len(expected)} nodes did not answer)" if silent else ""
        if missing:
            results.append(ProbeResult(image, location, "missing", "; ".join(missing) + tail))
        elif errors or not answering:
            message = "; ".join(errors) or "no node answered"
            results.append(ProbeResult(image, location, "error", message + tail))
        else:
            text = f"served on {len(answering)} node(s){tail}"
            results.append(ProbeResult(image, location, "present", text))
    return results


def probe_on_nodes(
    cluster: KubeCluster,
    targets: Sequence[tuple[str, str, bool]],
    *,
    stamp: str,
    wait: float,
    poll: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Optional[Progress] = None,
) -> NodeProbes:
    if not targets:
        return NodeProbes((), ())
    locations = [location for _, location, _ in targets]
    expected = _expected_nodes(cluster)
    since = _apply(cluster, plan_lines(locations, stamp)) or stamp
    try:
        wanted = set(locations)

        def fresh(report: NodeReport) -> bool:
            checked = {i.image for i in report.images} | {i.reference for i in report.images}
            return (report.checked_at or "") >= since and wanted <= checked

        waited = wait_for_reports(
            cluster.fetch_reports,
            expected,
            fresh,
            timeout=wait,
            poll=poll,
            clock=clock,
            sleep=sleep,
            progress=progress,
        )
    finally:
        _apply(cluster, None)
    if isinstance(waited.reports, Unavailable):
        raise ClusterUnreadable(f"cannot read the node reports: {waited.reports.text()}")
    notes = [
        f"--probe-on-nodes: {waited.fresh} of {waited.expected} nodes answered in "
        f"{waited.seconds:.0f}s; data key {PLAN_KEY} of configmap {cluster.namespace}/"
        f"{CHECKS_CONFIGMAP} was written and removed again"
    ]
    return NodeProbes(tuple(node_answers(targets, waited.reports, expected, fresh)), tuple(notes))
