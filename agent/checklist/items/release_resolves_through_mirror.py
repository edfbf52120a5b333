"""Pre-upgrade item 1: every node resolves the release image by digest through a mirror.

Each expected node's newest report is classified (:class:`NodeRelease`); item 8 (the
upgrade command) reads the same classification.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from shlex import quote
from typing import Any, Literal, Optional

from agent.checklist.items.common import (
    PULL_SECRET,
    RELEASE_TAG,
    grouped,
    outcome,
    unavailable,
    unavailable_parts,
)
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome, Unavailable
from agent.checklist.snapshot import ImageCheck, NodeReport, NodeState, Snapshot
from agent.checklist.target import Target, matches
from agent.collect import future_reason, parse_time
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
    failures: tuple[tuple[str, str, str], ...] = ()  # (location, kind, reason) that failed

    @property
    def through_mirror(self) -> bool:
        return self.state in ("mirror", "fallback")

    @property
    def failed_mirrors(self) -> tuple[str, ...]:
        """The mirror repositories that failed to serve the release on this node."""
        return tuple(
            mirror_repository(location) for location, kind, _ in self.failures if kind == "mirror"
        )

    @property
    def digest_unknown_everywhere(self) -> bool:
        """Every source tried, the source registry included, answered "manifest unknown":
        the registries are up and know the repository, not this digest."""
        return (
            self.state == "failed"
            and any(kind == "source" for _, kind, _ in self.failures)
            and all(reason == "manifest-unknown" for _, _, reason in self.failures)
        )

    @property
    def digest_unknown_to_mirrors(self) -> bool:
        """Every mirror answered "manifest unknown" and the source could not be asked (a
        disconnected cluster: unreachable, or blocked): the release is not mirrored, or
        the digest is wrong; nothing on the node tells which."""
        mirrors = [reason for _, kind, reason in self.failures if kind == "mirror"]
        source = [reason for _, kind, reason in self.failures if kind == "source"]
        return (
            self.state == "failed"
            and bool(mirrors)
            and all(reason == "manifest-unknown" for reason in mirrors)
            and "manifest-unknown" not in source
        )

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
    now: Optional[datetime] = None,
) -> bool:
    """The report checked the release after ``since`` (our request), or, when no request
    could be made, within ``cutoff`` and under the node's current rendered config. A
    report dated in the future of ``now`` is never fresh (a skewed clock, a forged date)."""
    if release_check(report, target) is None:
        return False
    checked = parse_time(report.checked_at)
    if checked is None or checked.tzinfo is None:
        return False
    if now is not None and future_reason(checked, now):
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
    now: Optional[datetime] = None,
) -> NodeRelease:
    # Messages name no node and no time, so that nodes in the same state share one line.
    if report is None:
        return NodeRelease(node.name, "missing", "no report from this node")
    checked = parse_time(report.checked_at)
    future = future_reason(checked, now) if checked and checked.tzinfo and now else None
    if future:
        return NodeRelease(
            node.name,
            "missing",
            f"its report cannot be trusted: {future}",
            checked_at=report.checked_at,
        )
    check = release_check(report, target)
    if check is None:
        return NodeRelease(
            node.name,
            "missing",
            "its latest report does not include the release image",
            checked_at=report.checked_at,
        )
    if not is_fresh(report, node, target, since=since, cutoff=cutoff, now=now):
        return NodeRelease(
            node.name,
            "missing",
            "its latest check of the release is older than this run",
            checked_at=report.checked_at,
        )
    reasons = tuple(
        reason or result
        for _, kind, result, reason in check.attempts
        if kind == "mirror" and result == "failed"
    )
    failures = tuple(
        (location, kind or "unknown", reason or result)
        for location, kind, result, reason in check.attempts
        if result == "failed"
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
    return NodeRelease(
        node.name, state, message, check.served_by, reasons, report.checked_at, failures
    )


def node_releases(
    snapshot: Snapshot,
    target: Target,
    *,
    since: Optional[str],
    cutoff: Optional[datetime],
    now: Optional[datetime] = None,
) -> list[NodeRelease]:
    """Every expected node's release state; none when the nodes or reports were not read."""
    states = snapshot.node_states()
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return []
    reports = snapshot.reports.by_node
    return [
        classify_release(node, reports.get(node.name), target, since=since, cutoff=cutoff, now=now)
        for node in states
        if node.expected
    ]


def mirror_repository(location: str) -> str:
    """The repository of a location that served the release (without its digest)."""
    return location.split("@", 1)[0]


def digest_command(target: Target) -> str:
    """How to find the release's right digest: ``oc adm release info`` of its tag."""
    return (
        f"oc adm release info -o 'jsonpath={{.digest}}{{\"\\n\"}}' "
        f'"{target.source_repository}:{RELEASE_TAG}"   # the digest of that release (or of '
        "the tag you mirrored it to); re-run with --to-image "
        f"{target.source_repository}@<that digest>"
    )


def _unknown_to_every_mirror(releases: Sequence[NodeRelease]) -> bool:
    """On every expected node every mirror answered "manifest unknown", the source not
    asked: a digest that was never mirrored, or a wrong one."""
    return bool(releases) and all(r.digest_unknown_to_mirrors for r in releases)


def _same_host_mirror(repository: str, candidates: Sequence[str]) -> Optional[str]:
    host = repository.split("/", 1)[0]
    return next((c for c in candidates if c.split("/", 1)[0] == host), None)


def release_remediation(
    releases: Sequence[NodeRelease],
    target: Target,
    *,
    namespace: str,
    daemonset_missing: bool,
    payload_mirrors: Sequence[str] = (),
) -> list[str]:
    """The commands that fix what the nodes' reports show, each about the mirror that
    failed: never a mirror no node tried."""
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
    bad = [r for r in releases if not r.through_mirror]
    if any(r.digest_unknown_everywhere for r in bad) or _unknown_to_every_mirror(releases):
        commands.append(digest_command(target))
    failed: dict[str, set[str]] = {}  # mirror repository -> failure reasons
    for release in bad:
        if release.digest_unknown_everywhere:
            continue  # mirroring a digest that does not exist cannot help
        for location, kind, reason in release.failures:
            if kind == "mirror":
                failed.setdefault(mirror_repository(location), set()).add(reason)
    for mirror, reasons in sorted(failed.items()):
        if "manifest-unknown" in reasons:
            # oc adm release mirror puts the payload in --to, the release at
            # --to-release-image: the payload's mirror on the same registry, when known.
            payload = _same_host_mirror(mirror, payload_mirrors) or mirror
            commands.append(
                f"oc adm release mirror -a {PULL_SECRET} --from={target.source_reference} "
                f"--to={payload} --to-release-image={mirror}:{RELEASE_TAG}"
                f"   # on a host that reaches {target.source_repository.split('/', 1)[0]} "
                f"and {mirror.split('/', 1)[0]}; PULL_SECRET: credentials for both; "
                f"{mirror} answered manifest unknown"
            )
    hosts = {m.split("/", 1)[0]: reasons for m, reasons in failed.items()}
    if any(reasons & {"unauthorized", "forbidden"} for reasons in hosts.values()):
        denied = sorted(h for h, r in hosts.items() if r & {"unauthorized", "forbidden"})
        commands.append(
            "oc set data secret/pull-secret -n openshift-config "
            f"--from-file=.dockerconfigjson={PULL_SECRET}   # PULL_SECRET: the cluster's pull "
            f"secret with credentials for {', '.join(denied)} added"
        )
    for host in sorted(h for h, r in hosts.items() if "tls" in r):
        commands.append(
            f"oc create configmap mirror-ca -n openshift-config "
            f'--from-file={host.replace(":", "..")}="$MIRROR_CA" && oc patch '
            "image.config.openshift.io/cluster --type=merge -p "
            '\'{"spec":{"additionalTrustedCA":{"name":"mirror-ca"}}}\''
            f"   # MIRROR_CA: the PEM file of the CA that signed {host}'s certificate; if "
            "image.config already names a CA ConfigMap, add this key to that one instead"
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
    payload_mirrors: Sequence[str] = (),
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
    wrong = [r.node for r in releases if r.digest_unknown_everywhere]
    if wrong:
        evidence.append(
            f"most likely a wrong digest: every source, the source registry "
            f"{target.source_repository.split('/', 1)[0]} included, answered manifest unknown "
            f"for {target.digest} ({len(wrong)} node(s)): find the right one with oc adm "
            "release info"
        )
    if not wrong and _unknown_to_every_mirror(releases):
        evidence.append(
            f"every mirror answered manifest unknown for {target.digest} on every node, and "
            "the source could not be asked (a disconnected cluster): the release was not "
            "mirrored, or the digest is wrong: check it with oc adm release info before "
            "mirroring it"
        )
    for state in ("source", "failed", "fallback", "missing"):
        evidence += grouped((r.node, r.message) for r in by_state.get(state, []))
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
            + ("; most likely a wrong digest" if wrong else "")
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
        payload_mirrors=payload_mirrors,
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
