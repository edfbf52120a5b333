"""Pre-upgrade item 1: every node resolves the release image by digest through a mirror.

Each expected node's newest report is classified (:class:`NodeRelease`); item 7 (the
upgrade command) reads the same classification.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from shlex import quote
from typing import Any, Literal, Optional

from agent.checklist.items.common import outcome, unavailable, unavailable_parts
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome, Unavailable
from agent.checklist.snapshot import ImageCheck, NodeReport, NodeState, Snapshot
from agent.checklist.target import Target, matches
from agent.collect import parse_time
from agent.kube.contract import CHECKS_CONFIGMAP, IMAGES_KEY

# How a node's check of the release went: served by the first mirror, by a later one, by
# the source; failed; or no check recent enough.
ReleaseState = Literal["mirror", "fallback", "source", "failed", "missing"]


@dataclass(frozen=True)
class NodeRelease:
    """What one node's report says about the release image."""

    node: str
    state: ReleaseState
    message: str
    served_by: Optional[str] = None
    reasons: tuple[str, ...] = ()  # failure reasons of the mirror attempts
    checked_at: Optional[str] = None

    @property
    def through_mirror(self) -> bool:
        return self.state in ("mirror", "fallback")

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "state": self.state,
            "servedBy": self.served_by,
            "checkedAt": self.checked_at,
            "message": self.message,
        }


def release_check(report: NodeReport, target: Target) -> Optional[ImageCheck]:
    return next(
        (i for i in report.images if matches(target, i.image, i.reference, as_given=False)),
        None,
    )


def is_fresh(
    report: NodeReport,
    node: Optional[NodeState],
    target: Target,
    *,
    since: Optional[str],
    cutoff: Optional[datetime],
) -> bool:
    """The report checked the release after ``since`` (our request), or, when no request
    could be made, within ``cutoff`` and under the node's current rendered config."""
    if release_check(report, target) is None:
        return False
    checked = parse_time(report.checked_at)
    if checked is None:
        return False
    if since is not None:
        requested = parse_time(since)
        return requested is None or checked >= requested
    if cutoff is not None and checked < cutoff:
        return False
    recorded = report.machine_config.get("currentConfig")
    return node is None or not recorded or recorded == node.current_config


def classify_release(
    node: NodeState,
    report: Optional[NodeReport],
    target: Target,
    *,
    since: Optional[str],
    cutoff: Optional[datetime],
) -> NodeRelease:
    if report is None:
        return NodeRelease(node.name, "missing", "no report from this node")
    check = release_check(report, target)
    if check is None:
        return NodeRelease(
            node.name,
            "missing",
            f"its latest report ({report.checked_at}) does not include the release image",
            checked_at=report.checked_at,
        )
    if not is_fresh(report, node, target, since=since, cutoff=cutoff):
        return NodeRelease(
            node.name,
            "missing",
            f"its latest check of the release ({report.checked_at}) is older than this run",
            checked_at=report.checked_at,
        )
    reasons = tuple(
        reason or result
        for _, kind, result, reason in check.attempts
        if kind == "mirror" and result == "failed"
    )
    detail = "; ".join(check.findings)
    state: ReleaseState
    if check.served_by_kind == "mirror":
        if check.verdict == "pass":
            state, message = "mirror", f"served by {check.served_by}"
        elif check.verdict == "warn":
            state, message = "fallback", f"served by {check.served_by} after: {detail}"
        else:
            state, message = "failed", f"served by {check.served_by}, but: {detail}"
    elif check.served_by:
        state = "source"
        message = f"served by the source {check.served_by}, not a mirror" + (
            f" ({detail})" if detail else ""
        )
    else:
        state, message = "failed", detail or f"not served (verdict {check.verdict})"
    return NodeRelease(node.name, state, message, check.served_by, reasons, report.checked_at)


def node_releases(
    snapshot: Snapshot,
    target: Target,
    *,
    since: Optional[str],
    cutoff: Optional[datetime],
) -> list[NodeRelease]:
    """Every expected node's release state; none when the nodes or reports were not read."""
    states = snapshot.node_states()
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return []
    reports = snapshot.reports.by_node
    return [
        classify_release(node, reports.get(node.name), target, since=since, cutoff=cutoff)
        for node in states
        if node.expected
    ]


def mirror_repository(location: str) -> str:
    """The repository of a location that served the release (without its digest)."""
    return location.split("@", 1)[0]


def release_remediation(
    releases: Sequence[NodeRelease],
    target: Target,
    *,
    namespace: str,
    daemonset_missing: bool,
    suggested_mirror: Optional[str],
) -> list[str]:
    commands = []
    missing = [r.node for r in releases if r.state == "missing"]
    if missing and daemonset_missing:
        commands.append("oc apply -k daemonset/   # install mirror-agent (see the README)")
    elif missing:
        for node in missing[:10]:
            commands.append(
                f"oc get pods -n {quote(namespace)} -o wide "
                f"--field-selector spec.nodeName={quote(node)}"
            )
        if len(missing) > 10:
            commands.append(f"oc get pods -n {quote(namespace)} -o wide")
    reasons = {reason for r in releases if not r.through_mirror for reason in r.reasons}
    mirror = suggested_mirror or "<mirror registry>/<repository>"
    if "manifest-unknown" in reasons:
        commands.append(
            "oc adm release mirror -a <pull-secret.json> "
            f"--from={target.source_reference} --to={mirror}"
        )
    if reasons & {"unauthorized", "forbidden"}:
        commands.append(
            "oc set data secret/pull-secret -n openshift-config "
            "--from-file=.dockerconfigjson=<pull secret with the mirror's credentials>"
        )
    if "tls" in reasons:
        host = mirror.split("/", 1)[0]
        commands.append(
            f"oc create configmap mirror-ca -n openshift-config "
            f"--from-file={host.replace(':', '..')}=<mirror CA.pem> && oc patch "
            "image.config.openshift.io/cluster --type=merge -p "
            '\'{"spec":{"additionalTrustedCA":{"name":"mirror-ca"}}}\''
        )
    failing = [r for r in releases if r.state in ("failed", "source")]
    for release in failing[:5]:
        commands.append(
            f"oc debug node/{release.node} -- chroot /host skopeo --debug inspect --raw "
            f"--authfile /var/lib/kubelet/config.json docker://{target.source_reference}"
        )
    return commands


def release_item(
    snapshot: Snapshot,
    target: Target,
    releases: Sequence[NodeRelease],
    *,
    since: Optional[str],
    suggested_mirror: Optional[str],
    wait_note: Optional[str] = None,
    write_problem: Optional[Unavailable] = None,
) -> Outcome:
    """``releases``: :func:`node_releases` of the same snapshot."""
    states = snapshot.node_states()
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return unavailable(unavailable_parts(states, snapshot.reports))
    reports = snapshot.reports.by_node
    by_state: dict[str, list[NodeRelease]] = {}
    for release in releases:
        by_state.setdefault(release.state, []).append(release)
    served = Counter(
        mirror_repository(r.served_by or "") for r in releases if r.through_mirror and r.served_by
    )
    good = len(by_state.get("mirror", [])) + len(by_state.get("fallback", []))
    evidence = []
    if served:
        evidence.append(
            f"{good} of {len(releases)} expected nodes resolved {target.digest} through a mirror: "
            + ", ".join(f"{mirror} ({count})" for mirror, count in sorted(served.items()))
        )
    for state in ("source", "failed", "fallback", "missing"):
        for release in by_state.get(state, []):
            evidence.append(f"{release.node}: {release.message}")
    if wait_note:
        evidence.append(wait_note)
    permissions = []
    if write_problem is not None:
        evidence.append(f"the release check could not be requested: {write_problem.text()}")
        if write_problem.permission:
            permissions.append(write_problem.permission)
    bad = [r for r in releases if r.state in ("source", "failed", "missing")]
    verdict: ItemVerdict
    if not releases:
        verdict, summary = (
            FAIL,
            "no node is expected to report (no Nodes, or none the DaemonSet runs on)",
        )
    elif bad:
        verdict = FAIL
        summary = (
            f"{len(bad)} of {len(releases)} expected nodes did not resolve the release through "
            f"a mirror ({_state_counts(by_state)})"
        )
    elif by_state.get("fallback"):
        verdict = WARN
        summary = (
            f"every expected node resolved the release through a mirror; "
            f"{len(by_state['fallback'])} only after earlier mirrors failed"
        )
    else:
        verdict, summary = PASS, f"all {len(releases)} expected nodes resolved it through a mirror"
    remediation = release_remediation(
        releases,
        target,
        namespace=snapshot.namespace,
        daemonset_missing=snapshot.daemonset is None and not reports,
        suggested_mirror=suggested_mirror,
    )
    if write_problem is not None and bad:
        remediation.insert(
            0,
            f"oc edit configmap {CHECKS_CONFIGMAP} -n {quote(snapshot.namespace)}   "
            f"# add to data.{IMAGES_KEY}: {target.source_reference}  # method=manifest",
        )
    details = {
        "expectedNodes": len(releases),
        "throughMirror": good,
        "servedBy": dict(sorted(served.items())),
        "nodes": [release.to_json() for release in releases],
        "requestedAt": since,
    }
    return outcome(verdict, summary, evidence, remediation, permissions, details)


def _state_counts(by_state: Mapping[str, Sequence[NodeRelease]]) -> str:
    words = {"source": "served by the source", "failed": "failed", "missing": "no fresh report"}
    return ", ".join(
        f"{len(by_state[state])} {words[state]}" for state in words if by_state.get(state)
    )
