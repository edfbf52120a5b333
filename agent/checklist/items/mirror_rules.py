"""Pre-upgrade item 2: the mirror rules cover the release and payload repositories, and
every node's effective registries.conf agrees with them (the registry sources policy of
image.config, insecure and blocked registries, is item 7's).

The ICSP/IDMS/ITMS objects are rendered as the cluster's Machine Config Operator renders
them (agent/checklist/mirrors.py); each node's report carries its effective entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from shlex import quote
from typing import Any, Callable, Optional

from agent.checklist.compare import Difference, compare, coverage
from agent.checklist.items.common import (
    listed,
    outcome,
    pool_status_commands,
    unavailable,
    unavailable_parts,
)
from agent.checklist.items.mco_refusal import (
    UNKNOWN_VERSION_REFUSAL,
    keep_current_files,
    possible_refusal_evidence,
    refusal_evidence,
    refusal_remediation,
)
from agent.checklist.items.mirror_evidence import (
    Evidence,
    evidence_json,
    failed_mirrors,
    instructions,
    mirror_evidence,
    sources_mirrored_at,
    working,
)
from agent.checklist.items.registry_sources import (
    RegistrySources,
    is_policy_difference,
    never_contact_sources,
)
from agent.checklist.items.release_resolves_through_mirror import NodeRelease
from agent.checklist.mirror_sets import (
    IDMS,
    ITMS,
    NEVER_CONTACT_SOURCE,
    MirrorSetKind,
    mirror_sets,
    scope_nested,
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


def taken_names(snapshot: Snapshot) -> set[str]:
    """The names of the mirror sets the cluster holds, of every kind."""
    names = set()
    for objects in (snapshot.icsps, snapshot.idmss, snapshot.itmss):
        if isinstance(objects, list):
            for obj in objects:
                metadata = obj.get("metadata") if isinstance(obj, dict) else None
                if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
                    names.add(metadata["name"])
    return names


def new_mirror_set_name(sources: Sequence[tuple[str, Sequence[str]]], taken: set[str]) -> str:
    """A name no mirror set uses: ``oc apply`` of an existing name replaces that object and
    drops its mappings."""
    text = "\n".join(f"{source}={','.join(mirrors)}" for source, mirrors in sources)
    name = "mirror-agent-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    candidate, suffix = name, 2
    while candidate in taken:
        candidate, suffix = f"{name}-{suffix}", suffix + 1
    return candidate


def _mirror_set_yaml(
    version: tuple[int, int], sources: Sequence[tuple[str, Sequence[str]]], taken: set[str]
) -> str:
    if version < (4, 13):
        api, kind, key = (
            "operator.openshift.io/v1alpha1",
            "ImageContentSourcePolicy",
            "repositoryDigestMirrors",
        )
    else:
        api, kind, key = "config.openshift.io/v1", "ImageDigestMirrorSet", "imageDigestMirrors"
    head = [
        f"apiVersion: {api}",
        f"kind: {kind}",
        "metadata:",
        f"  name: {new_mirror_set_name(sources, taken)}",
        "spec:",
        f"  {key}:",
    ]
    body = []
    for source, mirrors in sources:
        body += [f"  - source: {source}", "    mirrors:", *(f"    - {m}" for m in mirrors)]
    return "oc apply -f - <<'EOF'\n" + "\n".join(head + body) + "\nEOF"


def _blocked_by(snapshot: Snapshot, entry: Optional[str], repository: str) -> str:
    """What blocks the source of a covered repository: a mirror set's NeverContactSource,
    or a blockedRegistries scope of image.config (the MCO writes both as blocked)."""
    origins = []
    kind: MirrorSetKind
    for kind, objects in ((IDMS, snapshot.idmss), (ITMS, snapshot.itmss)):
        if isinstance(objects, list):
            origins += [
                one.origin
                for one in mirror_sets(kind, objects)
                if one.source == entry and one.policy == NEVER_CONTACT_SOURCE
            ]
    if origins:
        return f"NeverContactSource in {', '.join(dict.fromkeys(origins))}"
    image_config = snapshot.image_config if isinstance(snapshot.image_config, dict) else None
    scopes = [s for s in RegistrySources.of(image_config).blocked if scope_nested(repository, s)]
    if scopes:
        return f"blockedRegistries {', '.join(scopes)} of image.config.openshift.io/cluster"
    return "blocked in the rendered registries.conf"


@dataclass
class _Group:
    differences: list[Difference]
    nodes: list[NodeState] = field(default_factory=list)


def mirror_rules_item(
    snapshot: Snapshot,
    target: Target,
    rendering: Optional[Rendering],
    version: Version,
    releases: Sequence[NodeRelease] = (),
) -> Outcome:
    """``releases``: item 1's reading of the nodes' reports (a mirror that failed to serve
    the release and served it nowhere is not proposed)."""
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
        evidence += refusal_evidence(rendering.problems, version_known=version.source != "unknown")
        remediation += refusal_remediation(rendering.problems)
    if rendering.possible_problems:
        verdicts.append(WARN)
        evidence += possible_refusal_evidence(rendering.possible_problems)
    evidence += rendering.notes
    # image.config's insecure and blocked registries are item 7's (registry-sources).

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
    uncovered = []
    proposals: list[tuple[str, list[str]]] = []
    evidence_of: dict[str, list[Evidence]] = {}
    failed = failed_mirrors(releases)
    for role, found in coverages:
        if found.covered:
            blocked = (
                f" (source blocked: {_blocked_by(snapshot, found.entry, found.repository)})"
                if found.source_blocked
                else ""
            )
            evidence.append(
                f"{role} repository {found.repository}: covered by {found.entry} → "
                f"{', '.join(found.mirrors)}{blocked}"
            )
        else:
            verdicts.append(FAIL)
            why = found.problem or "no ICSP/IDMS rule applies to digest pulls of it"
            evidence.append(f"{role} repository {found.repository}: NOT covered: {why}")
            uncovered.append(found)
            shown, dropped = working(mirror_evidence(snapshot, target, found.repository), failed)
            evidence_of[found.repository] = shown
            for one in shown:
                evidence.append(f"{found.repository} is mirrored at {one.mirror}: {one.why}")
            for one, why in dropped:
                evidence.append(
                    f"{found.repository} is mapped to {one.mirror} ({one.why}), not proposed: {why}"
                )
            mirror_of = sources_mirrored_at(snapshot, found.repository)
            if mirror_of:
                evidence.append(
                    f"{found.repository} is itself a mirror of {', '.join(mirror_of)}: pass "
                    "--to-image with the source it stands for"
                )
            if shown:
                proposals.append((found.repository, [one.mirror for one in shown]))
    if proposals:
        remediation.append(_mirror_set_yaml(rendering.version, proposals, taken_names(snapshot)))
    if len(proposals) < len(uncovered):
        unknown = [c.repository for c in uncovered if not evidence_of.get(c.repository)]
        evidence.append(
            f"nothing the cluster holds shows where {', '.join(unknown)} is mirrored (oc adm "
            "release mirror puts release and payload in one repository, oc-mirror in two): "
            "take the mirror set the mirroring tool printed or wrote"
        )
        remediation += instructions(rendering.version, target)

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
        sources = RegistrySources.of(
            snapshot.image_config if isinstance(snapshot.image_config, dict) else None
        )
        never_contact = never_contact_sources(snapshot)

        def mirror_rule_differences(effective: Sequence[Mapping[str, Any]]) -> list[Difference]:
            return [
                d
                for d in compare(rendering, effective)
                if not is_policy_difference(d, rendering, sources, never_contact)
            ]

        verdicts += _compare_nodes(
            states,
            snapshot.reports,
            mirror_rule_differences,
            evidence,
            remediation,
            node_results,
            refused=rendering.refused,
        )
    verdict = worst(verdicts)
    failing = sum(1 for n in node_results if n["verdict"] == FAIL)
    if verdict == PASS:
        summary = "the rules cover both repositories and every node's registries.conf agrees"
    else:
        parts_text = []
        if uncovered:
            parts_text.append("not covered: " + ", ".join(c.repository for c in uncovered))
        if rendering.refused and version.source == "unknown":
            parts_text.append(f"the mirror sets {UNKNOWN_VERSION_REFUSAL}")
        elif rendering.refused:
            parts_text.append(
                "the MCO refuses to render the mirror sets: the MachineConfigPools will not "
                "update, nodes keep their current registries.conf"
            )
        elif rendering.possible_problems:
            parts_text.append(
                "the MCO of some "
                f"{version_text(rendering.version)} releases refuses these mirror sets"
            )
        if failing:
            parts_text.append(f"{failing} node(s) disagree with the mirror sets")
        summary = "; ".join(parts_text) or "see the evidence"
    details = {
        "ocpVersion": version_text(rendering.version),
        "coverage": {role: c.to_json() for role, c in coverages},
        "mirrorEvidence": {repo: evidence_json(found) for repo, found in evidence_of.items()},
        # Refused: nodes should keep their current file; the objects' rules are shown apart.
        "expected": None if rendering.refused else rendering.to_json(),
        "refusedRendering": rendering.to_json() if rendering.refused else None,
        "problems": [problem.to_json() for problem in rendering.problems],
        "possibleProblems": [problem.to_json() for problem in rendering.possible_problems],
        "nodes": node_results,
    }
    return outcome(verdict, summary, evidence, remediation, permissions, details)


def _compare_nodes(
    states: Sequence[NodeState],
    reports: Reports,
    differences_of: Callable[[Sequence[Mapping[str, Any]]], list[Difference]],
    evidence: list[str],
    remediation: list[str],
    node_results: list[dict[str, Any]],
    *,
    refused: bool,
) -> list[ItemVerdict]:
    verdicts: list[ItemVerdict] = []
    groups: dict[tuple[str, ...], _Group] = {}
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
            cache[key] = differences_of(effective)
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
        if differences:  # nodes with the same differences share one line
            same = tuple(d.text() for d in differences)
            groups.setdefault(same, _Group(differences)).nodes.append(node)
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
    for node in drifted[:5]:
        remediation += pool_status_commands(node.pool, node.name)
    if drifted and not refused:
        remediation.append(
            "oc logs -n openshift-machine-config-operator deployment/machine-config-controller "
            "-c machine-config-controller | grep -i registr   # did the MCO render the sets?"
        )
    return verdicts
