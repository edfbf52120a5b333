"""Pre-upgrade item 2: the mirror rules cover the release and payload repositories, and
every node's effective registries.conf agrees with them.

The ICSP/IDMS/ITMS objects are rendered as the cluster's Machine Config Operator renders
them (agent/checklist/mirrors.py); each node's report carries its effective entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from shlex import quote
from typing import Any, Optional

from agent.checklist.compare import Difference, compare, coverage
from agent.checklist.items.common import listed, outcome, unavailable, unavailable_parts
from agent.checklist.items.mco_refusal import (
    keep_current_files,
    refusal_evidence,
    refusal_remediation,
)
from agent.checklist.mirrors import Rendering
from agent.checklist.model import (
    FAIL,
    PASS,
    WARN,
    ItemVerdict,
    Outcome,
    Permission,
    Unavailable,
)
from agent.checklist.snapshot import NodeState, Reports, Snapshot
from agent.checklist.target import Target
from agent.checklist.version import Version, version_text
from agent.report import worst


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
) -> Outcome:
    parts = unavailable_parts(snapshot.icsps, snapshot.idmss, snapshot.itmss)
    if parts or rendering is None:
        return unavailable(parts or [Unavailable("the mirror sets were not read")])
    evidence: list[str] = []
    remediation: list[str] = []
    permissions: list[Permission] = []
    verdicts: list[ItemVerdict] = []
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
    if rendering.refused:
        verdicts.append(FAIL)
        evidence += refusal_evidence(rendering.problems)
        remediation += refusal_remediation(rendering.problems)
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
    if rendering.refused:
        evidence.append(
            "coverage below: of the rules the objects describe, once the MCO accepts them"
        )
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
        for part in unavailable_parts(states, snapshot.reports):
            verdicts.append(FAIL)
            evidence.append(f"nodes not compared: {part.text()}")
            if part.permission:
                permissions.append(part.permission)
    elif rendering.refused:
        verdicts += keep_current_files(states, snapshot.reports, evidence, node_results)
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
        if rendering.refused:
            parts_text.append(
                "the MCO refuses to render the mirror sets: the MachineConfigPools will not "
                "update, nodes keep their current registries.conf"
            )
        if failing:
            parts_text.append(f"{failing} node(s) disagree with the mirror sets")
        summary = "; ".join(parts_text) or "see the evidence"
    details = {
        "ocpVersion": version_text(rendering.version),
        "coverage": {role: c.to_json() for role, c in coverages},
        # Refused: nodes should keep their current file; the objects' rules are shown apart.
        "expected": None if rendering.refused else rendering.to_json(),
        "refusedRendering": rendering.to_json() if rendering.refused else None,
        "problems": [problem.to_json() for problem in rendering.problems],
        "nodes": node_results,
    }
    return outcome(verdict, summary, evidence, remediation, permissions, details)


def _compare_nodes(
    states: Sequence[NodeState],
    reports: Reports,
    rendering: Rendering,
    evidence: list[str],
    remediation: list[str],
    node_results: list[dict[str, Any]],
) -> list[ItemVerdict]:
    verdicts: list[ItemVerdict] = []
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
        evidence.append(f"not compared ({why}): {listed(names)}")
    drifted: list[NodeState] = []
    for group in groups.values():
        verdicts.append(worst([d.severity for d in group.differences]))
        names = [n.name for n in group.nodes]
        rolling = [n for n in group.nodes if n.rolling_out]
        note = f" (Machine Config rollout in progress on {len(rolling)})" if rolling else ""
        evidence.append(
            f"{len(names)} node(s) {listed(names)}{note}: "
            + "; ".join(d.text() for d in group.differences)
        )
        for pool in sorted({n.pool or "worker" for n in rolling}):
            remediation.append(
                f"oc wait mcp/{quote(pool)} --for=condition=Updated=True --timeout=60m"
            )
        if any(d.severity == FAIL for d in group.differences):
            drifted += [n for n in group.nodes if not n.rolling_out]
        for difference in group.differences:
            if difference.aspect == "shadowing-entry":
                remediation.append(
                    f"oc debug node/{group.nodes[0].name} -- chroot /host grep -rlF "
                    f"{quote(difference.prefix)} /etc/containers/registries.conf "
                    f"/etc/containers/registries.conf.d   # the file whose entry shadows "
                    f"{difference.scope}: remove the entry (or the MachineConfig that writes it)"
                )
    for node in drifted[:10]:
        remediation.append(
            f"oc debug node/{node.name} -- chroot /host touch /run/machine-config-daemon-force"
            "   # the MCD rewrites the rendered registries.conf"
        )
    if drifted:
        remediation.append(
            "oc logs -n openshift-machine-config-operator deployment/machine-config-controller "
            "-c machine-config-controller | grep -i registr   # did the MCO render the sets?"
        )
    return verdicts
