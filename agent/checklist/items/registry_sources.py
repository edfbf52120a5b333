"""Pre-upgrade item 7: every node applies the registry sources policy of
``image.config.openshift.io/cluster`` (``spec.registrySources``: insecure and blocked
registries), as the Machine Config Operator renders it into registries.conf.

These entries are not mirror rules: a node that lacks an insecure flag verifies TLS where
the policy says not to, one that lacks a blocked flag can pull from a registry the policy
forbids, and mirror resolution is unaffected either way. Item 2 judges the mirror rules
alone; the differences :func:`is_policy_difference` picks out of the same comparison are
judged here, with a message that says what the policy wants and what the node has.
``allowedRegistries`` lives in /etc/containers/policy.json, which reports do not carry.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from agent.checklist.compare import Coverage, Difference, compare, rules_of_json
from agent.checklist.items.common import (
    listed,
    outcome,
    pool_status_commands,
    unavailable,
    unavailable_parts,
)
from agent.checklist.mirror_sets import (
    IDMS,
    ITMS,
    NEVER_CONTACT_SOURCE,
    MirrorSetKind,
    mirror_sets,
    scope_nested,
)
from agent.checklist.mirrors import Rendering
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome, Unavailable
from agent.checklist.snapshot import NodeState, Snapshot
from agent.checklist.version import LATEST
from agent.report import worst

POLICY_ASPECTS = ("insecure", "insecure mirrors")  # only registrySources sets these flags


@dataclass(frozen=True)
class RegistrySources:
    insecure: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    @classmethod
    def of(cls, image_config: Optional[Mapping[str, Any]]) -> RegistrySources:
        sources = ((image_config or {}).get("spec") or {}).get("registrySources") or {}

        def scopes(key: str) -> tuple[str, ...]:
            return tuple(str(s) for s in sources.get(key) or [])

        return cls(
            scopes("insecureRegistries"), scopes("blockedRegistries"), scopes("allowedRegistries")
        )

    def blocks(self, prefix: str) -> bool:
        return any(scope_nested(prefix, scope) for scope in self.blocked)


def never_contact_sources(snapshot: Snapshot) -> frozenset[str]:
    """Sources a mirror set blocks (``mirrorSourcePolicy: NeverContactSource``)."""
    found = set()
    kind: MirrorSetKind
    for kind, objects in ((IDMS, snapshot.idmss), (ITMS, snapshot.itmss)):
        if isinstance(objects, list):
            found |= {
                s.source for s in mirror_sets(kind, objects) if s.policy == NEVER_CONTACT_SOURCE
            }
    return frozenset(found)


def is_policy_difference(
    difference: Difference,
    rendering: Rendering,
    sources: RegistrySources,
    never_contact: Collection[str],
) -> bool:
    """Whether a difference of :func:`~agent.checklist.compare.compare` is about the
    registry sources policy rather than the mirror rules."""
    if difference.aspect in POLICY_ASPECTS:
        return True
    from_mirror_set = difference.prefix in rendering.origins
    if difference.aspect == "missing-entry":
        return not from_mirror_set  # an entry only image.config makes
    if difference.aspect == "blocked":
        if not from_mirror_set:
            return True
        return sources.blocks(difference.prefix) and difference.prefix not in never_contact
    return False


def policy_text(difference: Difference, rendering: Rendering) -> str:
    """What the policy wants for this scope and what the node has, in those words."""
    prefix = difference.prefix
    if difference.aspect == "missing-entry":
        entry = rendering.entry(prefix)
        wants = []
        if entry is not None and entry.insecure:
            wants.append("insecure (registrySources.insecureRegistries)")
        if entry is not None and entry.blocked:
            wants.append("blocked (registrySources.blockedRegistries)")
        effect = []
        if entry is not None and entry.insecure:
            effect.append("pulls from it verify TLS")
        if entry is not None and entry.blocked:
            effect.append("pulls from it are not blocked")
        return (
            f"{prefix}: image.config marks it {' and '.join(wants) or 'in registrySources'}; "
            f"the node's registries.conf has no entry for it ({'; '.join(effect) or 'not applied'}"
            "; mirror resolution is unaffected)"
        )
    if difference.aspect == "insecure":
        if difference.expected == "true":
            return (
                f"{prefix}: image.config marks it insecure (registrySources.insecureRegistries); "
                "the node's entry is not insecure (pulls from it verify TLS)"
            )
        return (
            f"{prefix}: the node's entry is insecure; image.config does not list it (pulls "
            "from it skip TLS verification)"
        )
    if difference.aspect == "insecure mirrors":
        return (
            f"{prefix}: mirrors inside insecureRegistries scopes: expected {difference.expected}; "
            f"the node has {difference.actual}"
        )
    if difference.aspect == "blocked":
        if difference.expected == "true":
            return (
                f"{prefix}: image.config blocks it (registrySources.blockedRegistries); the "
                "node's entry is not blocked"
            )
        return f"{prefix}: the node blocks it; image.config does not"
    return difference.text()


def _node_only_flags(effective: Sequence[Mapping[str, Any]], rendering: Rendering) -> list[str]:
    """Insecure or blocked entries the node has and no rendering makes."""
    lines = []
    for rules in map(rules_of_json, effective):
        if rendering.entry(rules.prefix) is not None:
            continue
        if rules.insecure:
            lines.append(
                f"{rules.prefix}: the node's entry is insecure; image.config does not list it "
                "(pulls from it skip TLS verification)"
            )
        if rules.blocked:
            lines.append(f"{rules.prefix}: the node blocks it; image.config does not")
    return lines


@dataclass
class _Group:
    lines: list[str]
    severe: bool
    nodes: list[NodeState] = field(default_factory=list)


def registry_sources_item(
    snapshot: Snapshot,
    rendering: Optional[Rendering],
    coverages: Sequence[Coverage] = (),
) -> Outcome:
    """``coverages``: the release's and payload's (a difference inside one of their mirrors'
    or sources' scopes fails, since pulls of the release are affected; others warn)."""
    if isinstance(snapshot.image_config, Unavailable):
        return unavailable([snapshot.image_config], verdict=WARN)
    if rendering is None:
        return unavailable([Unavailable("the mirror sets were not read")], verdict=WARN)
    if rendering.refused:  # nodes keep their current file: there is no policy to hold them to
        return unavailable(
            [
                Unavailable(
                    "the MCO refuses to render the registry configuration (mirror-rules)"
                    if rendering.version != LATEST
                    else "the registry configuration would be refused by OCP >= 4.16's MCO "
                    "(mirror-rules; the cluster's version is unknown)"
                )
            ],
            verdict=WARN,
        )
    sources = RegistrySources.of(snapshot.image_config)
    evidence = [
        "image.config.openshift.io/cluster registrySources: "
        + "; ".join(
            f"{name} {', '.join(scopes) or 'none'}"
            for name, scopes in (("insecure", sources.insecure), ("blocked", sources.blocked))
        )
    ]
    if sources.allowed:
        evidence.append(
            f"allowedRegistries ({', '.join(sources.allowed)}) is written to policy.json, which "
            "the reports do not carry: not compared"
        )
    states = snapshot.node_states()
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return unavailable(unavailable_parts(states, snapshot.reports), verdict=WARN)
    never_contact = never_contact_sources(snapshot)
    release_scopes = [c.repository for c in coverages] + [m for c in coverages for m in c.mirrors]
    groups: dict[str, _Group] = {}
    compared, not_compared = 0, []
    node_results = []
    for node in states:
        if not node.expected:
            continue
        report = snapshot.reports.by_node.get(node.name)
        effective = snapshot.reports.effective_of(report) if report else None
        if report is None or effective is None:
            not_compared.append(node.name)
            continue
        compared += 1
        key = report.fingerprint or f"node:{node.name}"
        if key not in groups:
            differences = [
                d
                for d in compare(rendering, effective)
                if is_policy_difference(d, rendering, sources, never_contact)
            ]
            lines = [policy_text(d, rendering) for d in differences]
            lines += _node_only_flags(effective, rendering)
            severe = any(
                any(scope_nested(scope, d.prefix) for scope in release_scopes) for d in differences
            )
            groups[key] = _Group(lines, severe)
        groups[key].nodes.append(node)
        node_results.append({"node": node.name, "differences": groups[key].lines})
    verdicts: list[ItemVerdict] = [PASS]
    remediation: list[str] = []
    merged: dict[tuple[str, ...], _Group] = {}  # fingerprints with the same differences
    for group in groups.values():
        if group.lines:
            same = merged.setdefault(tuple(group.lines), _Group(group.lines, group.severe))
            same.nodes += group.nodes
    differing = list(merged.values())
    agreeing = compared - sum(len(g.nodes) for g in differing)
    evidence.append(f"{agreeing} of {compared} compared nodes apply it as the MCO renders it")
    if not_compared:
        evidence.append(f"not compared (no report or no effective entries): {listed(not_compared)}")
    for group in differing:
        verdicts.append(FAIL if group.severe else WARN)
        names = [n.name for n in group.nodes]
        evidence.append(f"{len(names)} node(s) {listed(names)}: " + "; ".join(group.lines))
        first_of_pool = {n.pool: n.name for n in reversed(group.nodes)}  # the first node
        for pool in sorted(first_of_pool, key=lambda p: p or ""):
            remediation += pool_status_commands(pool, first_of_pool[pool])
    verdict = worst(verdicts)
    if verdict == PASS:
        summary = (
            "every compared node applies image.config's insecure and blocked registries"
            if sources.insecure or sources.blocked
            else "image.config sets no insecure or blocked registries, and no node has any"
        )
    else:
        count = sum(len(g.nodes) for g in differing)
        summary = (
            f"{count} node(s) differ from image.config's registry sources"
            + (" where the release is pulled from" if verdict == FAIL else "")
            + "; mirror resolution is judged by item 2"
        )
    details = {
        "insecureRegistries": list(sources.insecure),
        "blockedRegistries": list(sources.blocked),
        "allowedRegistries": list(sources.allowed),
        "nodes": node_results,
    }
    return outcome(verdict, summary, evidence, remediation, details=details)
