"""The checklist items: pure functions from what was read to a verdict, evidence and fixes.

Nothing here talks to the cluster (``agent/checklist/fetch.py`` does); every function
takes a :class:`~agent.checklist.snapshot.Snapshot` (or parts of it) and returns an
:class:`~agent.checklist.model.Item`. A part that could not be read makes the items that
need it say which permission is missing; the other items are unaffected.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional, Union

from agent.checklist.mirrors import (
    LATEST,
    Coverage,
    Difference,
    Rendering,
    compare,
    coverage,
    parse_ocp_version,
    version_text,
)
from agent.checklist.model import (
    FAIL,
    PASS,
    WARN,
    Item,
    Permission,
    Unavailable,
    worst,
)
from agent.checklist.snapshot import (
    CHECKLIST_KEY,
    CHECKS_CONFIGMAP,
    FIELD_MANAGER,
    MACHINE_API_NAMESPACE,
    PAUSED_ANNOTATION,
    SIGNATURES_NAMESPACE,
    ImageCheck,
    NodeReport,
    NodeState,
    Reports,
    Snapshot,
    checklist_lines,
)
from agent.checklist.target import Target, matches
from agent.collect import parse_time

# id -> (number, title) per checklist; ids are stable (documented).
PRE_UPGRADE = {
    "release-resolves-through-mirror": (
        1,
        "Every node resolves the release image by digest through a mirror",
    ),
    "mirror-rules": (2, "Mirror rules cover the release and payload; every node applies them"),
    "release-signature": (3, "The release signature ConfigMap exists"),
    "machine-health-checks-paused": (4, "Every MachineHealthCheck is paused"),
    "pools-and-nodes": (5, "MachineConfigPools updated and not degraded; nodes Ready"),
    "drain-blockers": (6, "No PodDisruptionBudget blocks node drains"),
    "upgrade-command": (7, "The upgrade command"),
}
POST_UPGRADE = {
    "cluster-version": (1, "ClusterVersion reached the desired release"),
    "pools-and-nodes": (2, "MachineConfigPools updated and not degraded; nodes Ready"),
    "node-reports": (3, "Every node re-checked after its last rollout; all pass; no source used"),
    "machine-health-checks-resumed": (4, "No MachineHealthCheck is still paused"),
    "checks-cleaned-up": (5, "The release checks added by pre-upgrade are removed"),
}
MAX_LISTED = 20  # nodes named per line of evidence; JSON details list them all


def _item(
    table: Mapping[str, tuple[int, str]],
    item_id: str,
    verdict: str,
    summary: str,
    evidence: Iterable[str] = (),
    remediation: Iterable[str] = (),
    permissions: Iterable[Permission] = (),
    details: Optional[Mapping[str, Any]] = None,
) -> Item:
    number, title = table[item_id]
    return Item(
        id=item_id,
        number=number,
        title=title,
        verdict=verdict,
        summary=summary,
        evidence=tuple(evidence),
        remediation=tuple(dict.fromkeys(remediation)),  # each command once, in order
        missing_permissions=tuple(dict.fromkeys(permissions)),
        details=details or {},
    )


def _unavailable(
    table: Mapping[str, tuple[int, str]],
    item_id: str,
    parts: Sequence[Unavailable],
    verdict: str = FAIL,
) -> Item:
    """An item that could not be checked: which permission (or what error) is missing."""
    permissions = [part.permission for part in parts if part.permission]
    return _item(
        table,
        item_id,
        verdict,
        "not checked: " + "; ".join(part.text() for part in parts),
        evidence=[part.message for part in parts],
        permissions=permissions,
    )


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _q(text: str) -> str:
    return shlex.quote(text)


def _missing(*parts: object) -> list[Unavailable]:
    return [part for part in parts if isinstance(part, Unavailable)]


# --- the OpenShift version ----------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    version: tuple[int, int]
    text: str  # e.g. 4.14.8
    source: str  # "--ocp-version" | "ClusterVersion" | "unknown"

    def to_json(self) -> dict[str, Any]:
        return {"ocpVersion": self.text, "ocpVersionFrom": self.source}


def cluster_version_of(cluster_version: object, override: Optional[str], *, post: bool) -> Version:
    """The version whose MCO renders the nodes' registries.conf now.

    Before an update that is the last completed release in the history; after it, the
    desired one. ``override`` (``--ocp-version``) wins; ValueError if it is not a version.
    """
    if override:
        return Version(parse_ocp_version(override), override, "--ocp-version")
    if isinstance(cluster_version, dict):
        status = cluster_version.get("status") or {}
        history = [h for h in status.get("history") or [] if isinstance(h, dict)]
        candidates = [str((status.get("desired") or {}).get("version") or "")]
        completed = [str(h.get("version") or "") for h in history if h.get("state") == "Completed"]
        if not post:
            candidates = completed[:1] + candidates
        for text in candidates:
            try:
                return Version(parse_ocp_version(text), text, "ClusterVersion")
            except ValueError:
                continue
    return Version(LATEST, "unknown", "unknown")


# --- item 1 (pre-upgrade): the release through a mirror on every node -----------------------


@dataclass(frozen=True)
class NodeRelease:
    """What one node's report says about the release image."""

    node: str
    state: str  # mirror | fallback | source | failed | missing
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
        reason or outcome
        for _, kind, outcome, reason in check.attempts
        if kind == "mirror" and outcome == "failed"
    )
    detail = "; ".join(check.findings)
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


def _mirror_repository(location: str) -> str:
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
                f"oc get pods -n {_q(namespace)} -o wide --field-selector spec.nodeName={_q(node)}"
            )
        if len(missing) > 10:
            commands.append(f"oc get pods -n {_q(namespace)} -o wide")
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
    *,
    since: Optional[str],
    cutoff: Optional[datetime],
    suggested_mirror: Optional[str],
    wait_note: Optional[str] = None,
    write_problem: Optional[Unavailable] = None,
) -> tuple[Item, list[NodeRelease]]:
    table, item_id = PRE_UPGRADE, "release-resolves-through-mirror"
    states = snapshot.node_states()
    parts = _missing(states, snapshot.reports)
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return _unavailable(table, item_id, parts), []
    reports = snapshot.reports.by_node
    releases = [
        classify_release(node, reports.get(node.name), target, since=since, cutoff=cutoff)
        for node in states
        if node.expected
    ]
    by_state: dict[str, list[NodeRelease]] = {}
    for release in releases:
        by_state.setdefault(release.state, []).append(release)
    served = Counter(
        _mirror_repository(r.served_by or "") for r in releases if r.through_mirror and r.served_by
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
            f"oc edit configmap {CHECKS_CONFIGMAP} -n {_q(snapshot.namespace)}   "
            f"# add to data.images.txt: {target.source_reference}  # method=manifest",
        )
    details = {
        "expectedNodes": len(releases),
        "throughMirror": good,
        "servedBy": dict(sorted(served.items())),
        "nodes": [release.to_json() for release in releases],
        "requestedAt": since,
    }
    return (
        _item(table, item_id, verdict, summary, evidence, remediation, permissions, details),
        releases,
    )


def _state_counts(by_state: Mapping[str, Sequence[NodeRelease]]) -> str:
    words = {"source": "served by the source", "failed": "failed", "missing": "no fresh report"}
    return ", ".join(
        f"{len(by_state[state])} {words[state]}" for state in words if by_state.get(state)
    )


# --- item 2 (pre-upgrade): mirror rules ---------------------------------------------------


def _mirror_set_yaml(version: tuple[int, int], sources: Sequence[tuple[str, str]]) -> str:
    if version < (4, 13):
        head = [
            "apiVersion: operator.openshift.io/v1alpha1",
            "kind: ImageContentSourcePolicy",
            "metadata:",
            "  name: release-mirrors",
            "spec:",
            "  repositoryDigestMirrors:",
        ]
    else:
        head = [
            "apiVersion: config.openshift.io/v1",
            "kind: ImageDigestMirrorSet",
            "metadata:",
            "  name: release-mirrors",
            "spec:",
            "  imageDigestMirrors:",
        ]
    body = []
    for source, mirror in sources:
        body += [f"  - source: {source}", "    mirrors:", f"    - {mirror}"]
    return "oc apply -f - <<'EOF'\n" + "\n".join(head + body) + "\nEOF"


@dataclass
class _Group:
    differences: list[Difference]
    nodes: list[NodeState] = field(default_factory=list)


def mirror_rules_item(
    snapshot: Snapshot,
    target: Target,
    rendering: Optional[Rendering],
    version: Version,
) -> Item:
    table, item_id = PRE_UPGRADE, "mirror-rules"
    parts = _missing(snapshot.icsps, snapshot.idmss, snapshot.itmss)
    if parts or rendering is None:
        return _unavailable(table, item_id, parts or [Unavailable("the mirror sets were not read")])
    evidence: list[str] = []
    remediation: list[str] = []
    permissions: list[Permission] = []
    verdicts: list[str] = []
    origin = (
        f"from {version.source}"
        if version.source != "unknown"
        else "version unknown: pass --ocp-version"
    )
    evidence.append(
        f"rendered as the Machine Config Operator of OCP {version_text(rendering.version)} "
        f"does ({origin})"
    )
    if version.source == "unknown":
        verdicts.append(WARN)
    for problem in rendering.problems:
        verdicts.append(FAIL)
        evidence.append(
            f"the MCO refuses these mirror sets (nodes keep their old rules): {problem}"
        )
    if rendering.problems:
        remediation.append(
            "oc get imagedigestmirrorset,imagetagmirrorset,imagecontentsourcepolicy -o yaml"
            "   # make mirrorSourcePolicy agree for each source"
        )
    evidence += rendering.notes
    if isinstance(snapshot.image_config, Unavailable):
        verdicts.append(WARN)
        evidence.append(
            "image.config.openshift.io/cluster could not be read: insecure and blocked "
            f"registries are not compared ({snapshot.image_config.text()})"
        )
        if snapshot.image_config.permission:
            permissions.append(snapshot.image_config.permission)

    # Coverage of the release and payload repositories.
    config = rendering.config
    repositories = [("release", target.source_repository)]
    if target.payload_repository:
        repositories.append(("payload", target.payload_repository))
    else:
        verdicts.append(WARN)
        evidence.append(
            f"payload repository of {target.source_repository} unknown: pass "
            "--payload-repository to check it"
        )
    coverages = [(role, coverage(config, repo, target.digest)) for role, repo in repositories]
    known_mirror = next((c.mirrors[0] for _, c in coverages if c.covered), None)
    uncovered = []
    for role, found in coverages:
        if found.covered:
            blocked = " (source blocked: NeverContactSource)" if found.source_blocked else ""
            evidence.append(
                f"{role} repository {found.repository}: covered by {found.entry} → "
                f"{', '.join(found.mirrors)}{blocked}"
            )
        else:
            verdicts.append(FAIL)
            why = found.problem or "no ICSP/IDMS rule applies to digest pulls of it"
            evidence.append(f"{role} repository {found.repository}: NOT covered: {why}")
            uncovered.append(found)
    if uncovered:
        suggestion = known_mirror or "<mirror registry>/<repository>"
        remediation.append(
            _mirror_set_yaml(rendering.version, [(c.repository, suggestion) for c in uncovered])
        )

    # Each node's effective rules against the rendering.
    states = snapshot.node_states()
    node_results: list[dict[str, Any]] = []
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        for part in _missing(states, snapshot.reports):
            verdicts.append(FAIL)
            evidence.append(f"nodes not compared: {part.text()}")
            if part.permission:
                permissions.append(part.permission)
    else:
        verdicts += _compare_nodes(
            states, snapshot.reports, rendering, evidence, remediation, node_results
        )
    verdict = worst(verdicts)
    failing = sum(1 for n in node_results if n["verdict"] == FAIL)
    if verdict == PASS:
        summary = "the rules cover both repositories and every node's registries.conf agrees"
    else:
        parts_text = []
        if uncovered:
            parts_text.append("not covered: " + ", ".join(c.repository for c in uncovered))
        if rendering.problems:
            parts_text.append("the MCO refuses the mirror sets")
        if failing:
            parts_text.append(f"{failing} node(s) disagree with the mirror sets")
        summary = "; ".join(parts_text) or "see the evidence"
    details = {
        "ocpVersion": version_text(rendering.version),
        "coverage": {role: c.to_json() for role, c in coverages},
        "expected": rendering.to_json(),
        "problems": list(rendering.problems),
        "nodes": node_results,
    }
    return _item(table, item_id, verdict, summary, evidence, remediation, permissions, details)


def _compare_nodes(
    states: Sequence[NodeState],
    reports: Reports,
    rendering: Rendering,
    evidence: list[str],
    remediation: list[str],
    node_results: list[dict[str, Any]],
) -> list[str]:
    verdicts = []
    groups: dict[str, _Group] = {}
    cache: dict[str, list[Difference]] = {}
    not_compared: dict[str, list[str]] = {}
    for node in states:
        if not node.expected:
            continue
        report = reports.by_node.get(node.name)
        effective = reports.effective_of(report) if report else None
        if report is None or effective is None:
            why = (
                "no report"
                if report is None
                else "its report left the effective entries out to fit the ConfigMap"
                if report.effective_omitted
                else "its report has no effective entries (an older agent)"
            )
            not_compared.setdefault(why, []).append(node.name)
            node_results.append(
                {
                    "node": node.name,
                    "verdict": WARN,
                    "compared": False,
                    "reason": why,
                    "differences": [],
                }
            )
            continue
        key = report.fingerprint or f"node:{node.name}"
        if key not in cache:
            cache[key] = compare(rendering, effective)
        differences = cache[key]
        verdict = worst([d.severity for d in differences])
        node_results.append(
            {
                "node": node.name,
                "verdict": verdict,
                "compared": True,
                "fingerprint": report.fingerprint,
                "rollingOut": node.rolling_out,
                "differences": [d.to_json() for d in differences],
            }
        )
        if differences:
            groups.setdefault(key, _Group(differences)).nodes.append(node)
    compared = sum(1 for n in node_results if n["compared"])
    agreeing = sum(1 for n in node_results if n["compared"] and n["verdict"] == PASS)
    evidence.append(f"{agreeing} of {compared} compared nodes agree with the mirror sets")
    for why, names in not_compared.items():
        verdicts.append(WARN)
        evidence.append(f"not compared ({why}): {_names(names)}")
    drifted: list[NodeState] = []
    for group in groups.values():
        verdicts.append(worst([d.severity for d in group.differences]))
        names = [n.name for n in group.nodes]
        rolling = [n for n in group.nodes if n.rolling_out]
        note = f" (Machine Config rollout in progress on {len(rolling)})" if rolling else ""
        evidence.append(
            f"{len(names)} node(s) {_names(names)}{note}: "
            + "; ".join(d.text() for d in group.differences)
        )
        for pool in sorted({n.pool or "worker" for n in rolling}):
            remediation.append(f"oc wait mcp/{_q(pool)} --for=condition=Updated=True --timeout=60m")
        if any(d.severity == FAIL for d in group.differences):
            drifted += [n for n in group.nodes if not n.rolling_out]
        for difference in group.differences:
            if difference.aspect == "shadowing-entry":
                remediation.append(
                    f"oc debug node/{group.nodes[0].name} -- chroot /host grep -rlF "
                    f"{_q(difference.prefix)} /etc/containers/registries.conf "
                    f"/etc/containers/registries.conf.d   # the file whose entry shadows "
                    f"{difference.scope}: remove the entry (or the MachineConfig that writes it)"
                )
    for node in drifted[:10]:
        remediation.append(
            f"oc debug node/{node.name} -- chroot /host touch /run/machine-config-daemon-force"
            "   # the MCD rewrites the rendered registries.conf"
        )
    if drifted and not rendering.problems:
        remediation.append(
            "oc logs -n openshift-machine-config-operator deployment/machine-config-controller "
            "-c machine-config-controller | grep -i registr   # did the MCO render the sets?"
        )
    return verdicts


# --- item 3: the release signature --------------------------------------------------------


def signature_item(snapshot: Snapshot, target: Target) -> Item:
    table, item_id = PRE_UPGRADE, "release-signature"
    if isinstance(snapshot.signatures, Unavailable):
        return _unavailable(table, item_id, [snapshot.signatures])
    hexdigest = target.digest.split(":", 1)[1]
    prefix = f"sha256-{hexdigest}"
    found, under_data = [], []
    for configmap in snapshot.signatures:
        name = (configmap.get("metadata") or {}).get("name", "?")
        # The CVO reads binaryData only (library-go verify/store/configmap); a key under
        # data is never seen, and the update is refused as unverified.
        found += [
            f"{SIGNATURES_NAMESPACE}/{name}: {key}"
            for key in configmap.get("binaryData") or {}
            if key.startswith(prefix)
        ]
        under_data += [
            f"{SIGNATURES_NAMESPACE}/{name}: {key} is under data, which the cluster ignores "
            "(signatures must be binaryData)"
            for key in configmap.get("data") or {}
            if key.startswith(prefix)
        ]
    if found:
        return _item(
            table,
            item_id,
            PASS,
            f"a signature for {target.digest} is in {SIGNATURES_NAMESPACE}",
            evidence=found,
            details={"signatures": found},
        )
    url = (
        "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release/"
        f"sha256={hexdigest}/signature-1"
    )
    return _item(
        table,
        item_id,
        FAIL,
        f"no ConfigMap labelled release.openshift.io/verification-signatures in "
        f"{SIGNATURES_NAMESPACE} has a key for {target.digest}",
        evidence=[
            f"{len(snapshot.signatures)} signature ConfigMap(s) read; none has a binaryData key "
            f"{prefix}-<n>",
            *under_data,
        ],
        remediation=[
            "oc apply -f <oc-mirror workspace>/working-dir/cluster-resources/"
            "signature-configmap.yaml   # oc-mirror v2 (v1: results-*/release-signatures/)",
            f"curl -sSfo signature-1 {url} && oc create configmap {prefix} -n "
            f"{SIGNATURES_NAMESPACE} --from-file={prefix}-1=signature-1 && oc label configmap "
            f"{prefix} -n {SIGNATURES_NAMESPACE} release.openshift.io/verification-signatures=",
        ],
        details={"signatures": []},
    )


# --- item 4 (pre) / 4 (post): MachineHealthChecks ---------------------------------------


def _health_checks(snapshot: Snapshot) -> Union[list[tuple[str, str, bool]], Unavailable]:
    if isinstance(snapshot.health_checks, Unavailable):
        return snapshot.health_checks
    found = []
    for check in snapshot.health_checks:
        metadata = check.get("metadata") or {}
        paused = PAUSED_ANNOTATION in (metadata.get("annotations") or {})
        found.append(
            (
                str(metadata.get("namespace") or MACHINE_API_NAMESPACE),
                str(metadata.get("name")),
                paused,
            )
        )
    return sorted(found)


def health_checks_paused_item(snapshot: Snapshot) -> Item:
    table, item_id = PRE_UPGRADE, "machine-health-checks-paused"
    checks = _health_checks(snapshot)
    if isinstance(checks, Unavailable):
        return _unavailable(table, item_id, [checks])
    unpaused = [(ns, name) for ns, name, paused in checks if not paused]
    evidence = [
        f"{ns}/{name}: {'paused' if paused else 'NOT paused'}" for ns, name, paused in checks
    ]
    details = {
        "machineHealthChecks": [
            {"namespace": ns, "name": name, "paused": paused} for ns, name, paused in checks
        ]
    }
    if not checks:
        return _item(
            table,
            item_id,
            PASS,
            f"no MachineHealthCheck in {MACHINE_API_NAMESPACE}",
            details=details,
        )
    if not unpaused:
        return _item(table, item_id, PASS, f"all {len(checks)} paused", evidence, details=details)
    return _item(
        table,
        item_id,
        FAIL,
        f"{len(unpaused)} of {len(checks)} not paused: nodes rebooting during the update may "
        "be replaced",
        evidence,
        [
            f'oc annotate machinehealthcheck {_q(name)} -n {_q(ns)} {PAUSED_ANNOTATION}=""'
            for ns, name in unpaused
        ],
        details=details,
    )


def health_checks_resumed_item(snapshot: Snapshot) -> Item:
    table, item_id = POST_UPGRADE, "machine-health-checks-resumed"
    checks = _health_checks(snapshot)
    if isinstance(checks, Unavailable):
        return _unavailable(table, item_id, [checks])
    paused = [(ns, name) for ns, name, is_paused in checks if is_paused]
    evidence = [f"{ns}/{name}: {'STILL paused' if p else 'active'}" for ns, name, p in checks]
    details = {
        "machineHealthChecks": [
            {"namespace": ns, "name": name, "paused": p} for ns, name, p in checks
        ]
    }
    if not paused:
        summary = f"all {len(checks)} active" if checks else "no MachineHealthCheck"
        return _item(table, item_id, PASS, summary, evidence, details=details)
    return _item(
        table,
        item_id,
        FAIL,
        f"{len(paused)} of {len(checks)} still paused: failed machines are not remediated",
        evidence,
        [
            f"oc annotate machinehealthcheck {_q(name)} -n {_q(ns)} {PAUSED_ANNOTATION}-"
            for ns, name in paused
        ],
        details=details,
    )


# --- item 5 (pre) / 2 (post): pools and nodes -------------------------------------------------


def _condition(obj: Mapping[str, Any], kind: str) -> Optional[str]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return str(condition.get("status"))
    return None


def pools_and_nodes_item(snapshot: Snapshot, *, post: bool) -> Item:
    table = POST_UPGRADE if post else PRE_UPGRADE
    item_id = "pools-and-nodes"
    parts = _missing(snapshot.pools, snapshot.nodes)
    evidence: list[str] = []
    remediation: list[str] = []
    verdicts: list[str] = []
    headline: list[str] = []
    pools_json = []
    nodes_json = []
    if not isinstance(snapshot.pools, Unavailable):
        for pool in sorted(
            snapshot.pools, key=lambda p: str((p.get("metadata") or {}).get("name"))
        ):
            name = str((pool.get("metadata") or {}).get("name"))
            status = pool.get("status") or {}
            degraded = _condition(pool, "Degraded") == "True"
            updated = _condition(pool, "Updated") == "True"
            paused = bool((pool.get("spec") or {}).get("paused"))
            counts = (
                f"{status.get('updatedMachineCount', '?')}/{status.get('machineCount', '?')} "
                f"updated, {status.get('degradedMachineCount', 0)} degraded"
            )
            rendered = (status.get("configuration") or {}).get("name") or "?"
            states = []
            if degraded:
                verdicts.append(FAIL)
                states.append("DEGRADED")
                remediation.append(f"oc describe mcp/{_q(name)}   # see the Degraded reason")
            if not updated:
                verdicts.append(FAIL)
                states.append("NOT updated")
                remediation.append(
                    f"oc wait mcp/{_q(name)} --for=condition=Updated=True --timeout=60m"
                )
            if paused:
                verdicts.append(WARN)
                states.append("paused")
                remediation.append(
                    f'oc patch mcp/{_q(name)} --type=merge -p \'{{"spec":{{"paused":false}}}}\''
                    "   # when the pool may update"
                )
            if states:
                headline.append(f"pool {name} {' and '.join(states)}")
            evidence.append(f"pool {name}: {', '.join(states) or 'updated'} ({counts}, {rendered})")
            pools_json.append(
                {"name": name, "updated": updated, "degraded": degraded, "paused": paused}
            )
    states_list = snapshot.node_states()
    if not isinstance(states_list, Unavailable):
        not_ready = [n for n in states_list if not n.ready]
        cordoned = [n for n in states_list if n.unschedulable]
        evidence.insert(0, f"{len(states_list) - len(not_ready)} of {len(states_list)} nodes Ready")
        for node in not_ready:
            verdicts.append(FAIL)
            headline.append(f"node {node.name} not Ready")
            evidence.append(f"node {node.name}: NOT Ready ({node.ready_reason})")
            remediation.append(f"oc describe node/{_q(node.name)}")
        for node in cordoned:
            verdicts.append(WARN)
            headline.append(f"node {node.name} cordoned")
            evidence.append(f"node {node.name}: SchedulingDisabled")
            remediation.append(f"oc adm uncordon {_q(node.name)}   # if no update is running")
        nodes_json = [
            {"node": n.name, "ready": n.ready, "unschedulable": n.unschedulable}
            for n in states_list
        ]
    for part in parts:
        verdicts.append(FAIL)
        headline.append(f"not checked: {part.text()}")
        evidence.append(f"not checked: {part.text()}")
    verdict = worst(verdicts)
    if verdict == PASS:
        summary = f"{len(pools_json)} pool(s) updated, every node Ready"
    else:
        summary = "; ".join(headline[:4]) + (
            f" (+{len(headline) - 4} more)" if len(headline) > 4 else ""
        )
    return _item(
        table,
        item_id,
        verdict,
        summary,
        evidence,
        remediation,
        [p.permission for p in parts if p.permission],
        {"pools": pools_json, "nodes": nodes_json},
    )


# --- item 6: drain blockers --------------------------------------------------------------


def drain_blockers_item(snapshot: Snapshot) -> Item:
    table, item_id = PRE_UPGRADE, "drain-blockers"
    if isinstance(snapshot.budgets, Unavailable):
        return _unavailable(table, item_id, [snapshot.budgets], verdict=WARN)
    blockers = []
    for budget in snapshot.budgets:
        metadata = budget.get("metadata") or {}
        spec, status = budget.get("spec") or {}, budget.get("status") or {}
        if "disruptionsAllowed" not in status:
            continue
        if (
            int(status.get("disruptionsAllowed") or 0) > 0
            or int(status.get("expectedPods") or 0) == 0
        ):
            continue
        rule = (
            f"minAvailable {spec['minAvailable']}"
            if "minAvailable" in spec
            else f"maxUnavailable {spec.get('maxUnavailable')}"
        )
        blockers.append(
            (
                str(metadata.get("namespace")),
                str(metadata.get("name")),
                f"{rule}; {status.get('currentHealthy', '?')} healthy of "
                f"{status.get('expectedPods', '?')} expected; 0 disruptions allowed",
            )
        )
    blockers.sort()
    details = {"blockers": [{"namespace": ns, "name": n, "why": w} for ns, n, w in blockers]}
    if not blockers:
        return _item(
            table,
            item_id,
            PASS,
            f"none of {len(snapshot.budgets)} PodDisruptionBudgets is at zero disruptions",
            details=details,
        )
    return _item(
        table,
        item_id,
        WARN,
        f"{len(blockers)} PodDisruptionBudget(s) allow no disruption: drains will wait on them",
        [f"{ns}/{name}: {why}" for ns, name, why in blockers],
        [
            f"oc get pdb {_q(name)} -n {_q(ns)} -o yaml   # scale the workload up, or relax the "
            "budget for the update and restore it afterwards"
            for ns, name, _ in blockers
        ],
        details=details,
    )


# --- item 7: the upgrade command -----------------------------------------------------------


def upgrade_command_item(
    releases: Sequence[NodeRelease], target: Target, release_coverage: Optional[Coverage]
) -> Item:
    table, item_id = PRE_UPGRADE, "upgrade-command"
    served = Counter(
        _mirror_repository(r.served_by) for r in releases if r.through_mirror and r.served_by
    )
    if served:
        top = max(served.values())
        mirror = sorted(m for m, count in served.items() if count == top)[0]
        command = f"oc adm upgrade --allow-explicit-upgrade --to-image {mirror}@{target.digest}"
        evidence = [
            f"{count} node(s) were served the release by {location}"
            for location, count in sorted(served.items())
        ]
        not_through = [r.node for r in releases if not r.through_mirror]
        verdicts = [PASS]
        if len(served) > 1:
            verdicts.append(WARN)
            evidence.append(
                f"nodes used different mirrors; the command uses the most used, {mirror}"
            )
        if not_through:
            verdicts.append(WARN)
            evidence.append(f"not through a mirror yet: {_names(not_through)} (item 1)")
        return _item(
            table,
            item_id,
            worst(verdicts),
            "run this once every other item passes",
            evidence,
            [command],
            details={"command": command, "mirror": mirror},
        )
    if release_coverage is not None and release_coverage.mirrors:
        mirror = release_coverage.mirrors[0]
        command = f"oc adm upgrade --allow-explicit-upgrade --to-image {mirror}@{target.digest}"
        return _item(
            table,
            item_id,
            FAIL,
            "no node has fetched the release through a mirror yet; the command uses the first "
            "mirror the rules name",
            [f"first mirror for {release_coverage.repository}: {mirror}"],
            [command],
            details={"command": command, "mirror": mirror},
        )
    return _item(
        table,
        item_id,
        FAIL,
        "no mirror serves the release: fix items 1 and 2 first",
        details={"command": None, "mirror": None},
    )


# --- post-upgrade -------------------------------------------------------------------------


def cluster_version_item(snapshot: Snapshot, target: Optional[Target]) -> Item:
    table, item_id = POST_UPGRADE, "cluster-version"
    cv = snapshot.cluster_version
    if isinstance(cv, Unavailable):
        return _unavailable(table, item_id, [cv])
    if cv is None:
        return _item(table, item_id, FAIL, "there is no ClusterVersion 'version'")
    status = cv.get("status") or {}
    desired = status.get("desired") or {}
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    latest = history[0] if history else {}
    evidence = [
        f"desired: {desired.get('version', '?')} ({desired.get('image', '?')})",
        f"latest history entry: {latest.get('version', '?')} {latest.get('state', '?')}"
        + (f" at {latest.get('completionTime')}" if latest.get("completionTime") else ""),
    ]
    problems = []
    if latest.get("state") != "Completed":
        problems.append(f"the latest update is {latest.get('state') or 'not recorded'}")
    if latest and latest.get("image") != desired.get("image"):
        problems.append("the latest history entry is not the desired release")
    if target is not None and not str(desired.get("image", "")).endswith("@" + target.digest):
        problems.append(f"the desired release is not {target.digest}")
    # An update the CVO refused (e.g. no signature) leaves status.desired, and a Completed
    # history entry, on the old release: only spec.desiredUpdate and ReleaseAccepted tell.
    requested = str(((cv.get("spec") or {}).get("desiredUpdate") or {}).get("image") or "")
    desired_digest = str(desired.get("image", "")).rsplit("@", 1)[-1]
    if requested and requested.rsplit("@", 1)[-1] != desired_digest:  # by digest: mirror or not
        problems.append(f"the requested update {requested} is not the desired release")
    conditions = {
        kind: _condition(cv, kind)
        for kind in ("Available", "Progressing", "Failing", "ReleaseAccepted")
    }
    if conditions["ReleaseAccepted"] == "False":
        problems.append("ReleaseAccepted is False: the cluster refused the requested release")
    evidence.append(", ".join(f"{k}={v}" for k, v in conditions.items()))
    if conditions["Available"] != "True":
        problems.append("Available is not True")
    if conditions["Progressing"] == "True":
        problems.append("still Progressing")
    if conditions["Failing"] == "True":
        problems.append("Failing")
    details = {"desired": desired, "conditions": conditions, "history": history[:3]}
    if not problems:
        return _item(
            table,
            item_id,
            PASS,
            f"{desired.get('version', '?')} completed",
            evidence,
            details=details,
        )
    remediation = ["oc adm upgrade   # the update's status and its blocking conditions"]
    if conditions["Progressing"] == "True" and conditions["Failing"] != "True":
        remediation.append(
            "oc wait clusterversion/version --for=condition=Progressing=False --timeout=90m"
        )
    if conditions["Failing"] == "True" or conditions["Available"] != "True":
        remediation.append("oc get clusteroperators   # which operator is degraded or unavailable")
    return _item(table, item_id, FAIL, "; ".join(problems), evidence, remediation, details=details)


def node_reports_item(snapshot: Snapshot) -> Item:
    table, item_id = POST_UPGRADE, "node-reports"
    states = snapshot.node_states()
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return _unavailable(table, item_id, _missing(states, snapshot.reports))
    ns = snapshot.namespace
    reports = snapshot.reports.by_node
    rows = []
    evidence: list[str] = []
    remediation: list[str] = []
    verdicts: list[str] = []
    expected = [node for node in states if node.expected]
    for node in expected:
        report = reports.get(node.name)
        problems: list[str] = []
        verdict = PASS
        if report is None:
            verdict, problems = FAIL, ["no report"]
            remediation.append(
                f"oc get pods -n {_q(ns)} -o wide --field-selector spec.nodeName={_q(node.name)}"
            )
        else:
            recorded = report.machine_config.get("currentConfig")
            restart = (
                f"oc delete pod -n {_q(ns)} -l app.kubernetes.io/name=mirror-agent "
                f"--field-selector spec.nodeName={_q(node.name)}   # re-checks at start"
            )
            if node.rolling_out:
                verdict = FAIL
                problems.append(
                    f"Machine Config rollout to {node.desired_config} still in progress"
                )
            elif not recorded:
                verdict = WARN
                problems.append("the report does not record the node's rendered config")
                remediation.append(restart)
            elif recorded != node.current_config:
                verdict = FAIL
                problems.append(
                    f"checked under {recorded}, before the rollout of {node.current_config}"
                )
                remediation.append(restart)
            if report.verdict != "pass":
                verdict = worst([verdict, WARN if report.verdict == "warn" else FAIL])
                findings = [f for i in report.images for f in i.findings] + list(report.findings)
                problems.append(
                    f"verdict {report.verdict}"
                    + (f": {'; '.join(findings[:3])}" if findings else "")
                )
                if report.verdict != "warn":
                    remediation.append(
                        f"oc get configmap {_q(report.configmap)} -n {_q(ns)} "
                        "-o jsonpath='{.data.report\\.json}'   # the node's full report"
                    )
            contacted = [i.image for i in report.images if i.contacted_source]
            if contacted:
                verdict = FAIL
                problems.append("contacted a source registry for " + ", ".join(contacted))
        verdicts.append(verdict)
        if problems:
            evidence.append(f"{node.name}: " + "; ".join(problems))
        rows.append(
            {
                "node": node.name,
                "verdict": verdict,
                "checkedAt": report.checked_at if report else None,
                "problems": problems,
            }
        )
    good = sum(1 for r in rows if r["verdict"] == PASS)
    evidence.insert(0, f"{good} of {len(rows)} expected nodes: fresh, passing, no source contacted")
    if not rows:
        verdicts.append(FAIL)
    verdict = worst(verdicts)
    summary = (
        f"all {len(rows)} expected nodes re-checked after their last rollout and pass"
        if verdict == PASS
        else f"{len(rows) - good} of {len(rows)} expected nodes need attention"
        if rows
        else "no node is expected to report"
    )
    return _item(table, item_id, verdict, summary, evidence, remediation, details={"nodes": rows})


IMAGES_KEY = "images.txt"  # the administrator's own key of the checks ConfigMap


def _release_lines_added_by_hand(snapshot: Snapshot) -> list[str]:
    """Lines of the administrator's images.txt checking the cluster's desired release by
    manifest: what pre-upgrade asks to add by hand when it may not write checklist.txt."""
    if not isinstance(snapshot.checks, dict) or not isinstance(snapshot.cluster_version, dict):
        return []
    desired = ((snapshot.cluster_version.get("status") or {}).get("desired") or {}).get("image")
    if not isinstance(desired, str) or "@" not in desired:
        return []
    digest = desired.rsplit("@", 1)[1]
    text = (snapshot.checks.get("data") or {}).get(IMAGES_KEY) or ""
    return [
        line.strip()
        for line in text.splitlines()
        if line.split("#", 1)[0].strip().endswith("@" + digest) and "method=manifest" in line
    ]


def checks_cleanup_item(snapshot: Snapshot) -> Item:
    table, item_id = POST_UPGRADE, "checks-cleaned-up"
    if isinstance(snapshot.checks, Unavailable):
        return _unavailable(table, item_id, [snapshot.checks], verdict=WARN)
    lines = checklist_lines(snapshot.checks)
    ns = snapshot.namespace
    by_hand = _release_lines_added_by_hand(snapshot)
    if not lines and by_hand:
        # pre-upgrade's fallback when it may not write: "add to data.images.txt: <release>"
        return _item(
            table,
            item_id,
            WARN,
            f"{ns}/{CHECKS_CONFIGMAP} {IMAGES_KEY} still checks the release by manifest "
            "(added by hand for pre-upgrade; every node keeps re-checking it)",
            by_hand,
            [
                f"oc edit configmap {CHECKS_CONFIGMAP} -n {_q(ns)}   # remove from "
                f"data.{IMAGES_KEY}: {line}"
                for line in by_hand
            ],
            details={"lines": [], "imagesLines": by_hand},
        )
    if not lines:
        return _item(
            table,
            item_id,
            PASS,
            f"configmap {ns}/{CHECKS_CONFIGMAP} has no {CHECKLIST_KEY} entries",
            details={"lines": []},
        )
    return _item(
        table,
        item_id,
        WARN,
        f"{len(lines)} release check(s) from pre-upgrade are still in "
        f"{ns}/{CHECKS_CONFIGMAP} (every node keeps re-checking them)",
        lines,
        [
            f"agent checklist cleanup -n {_q(ns)}",
            f"oc patch configmap {CHECKS_CONFIGMAP} -n {_q(ns)} --type=json "
            f'-p \'[{{"op":"remove","path":"/data/{CHECKLIST_KEY}"}}]\'',
        ],
        details={"lines": lines, "fieldManager": FIELD_MANAGER},
    )
