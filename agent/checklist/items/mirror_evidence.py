"""Where an uncovered repository is mirrored, by evidence only (pure; item 2).

A mapping for a repository the mirror rules do not cover is proposed only when something
the cluster holds shows a mirror repository that has its images: a mirror set that names
the repository but does not apply to digest pulls here (tag-only, or a kind this OCP
version ignores), a node whose own registries.conf maps it, a node's report of an image of
that repository served by a mirror or found there by a probe (``--probe-mirrors``), or
``--to-image`` naming a mirror of the release. What the nodes showed (a digest pull served
by a mirror, a probe) ranks above what rules say; a mirror whose repository or host failed
to serve the release on the nodes and served it on none is not proposed (item 1's reports).
Guessing is wrong in general: ``oc adm release mirror`` puts the release and its payload in
one repository, oc-mirror in two (``…/release-images`` and ``…/release``). Without
evidence, :func:`instructions` says which command prints the right objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from agent import reference
from agent.checklist.compare import rules_of_json
from agent.checklist.items.common import PULL_SECRET
from agent.checklist.items.release_resolves_through_mirror import NodeRelease
from agent.checklist.mirror_sets import ICSP, IDMS, ITMS, MirrorSetKind, mirror_sets, scope_nested
from agent.checklist.model import Unavailable
from agent.checklist.snapshot import Snapshot
from agent.checklist.target import Target
from agent.reference import ReferenceError


@dataclass(frozen=True)
class Evidence:
    mirror: str  # a mirror repository that holds the repository's images
    why: str


def _nested(repository: str, scope: str, mirror: str) -> str:
    return mirror + repository[len(scope) :]


def _from_mirror_sets(snapshot: Snapshot, repository: str) -> Iterable[Evidence]:
    kind: MirrorSetKind
    for kind, objects in ((ICSP, snapshot.icsps), (IDMS, snapshot.idmss), (ITMS, snapshot.itmss)):
        if not isinstance(objects, list):
            continue
        for one in mirror_sets(kind, objects):
            if not scope_nested(repository, one.source):
                continue
            for mirror in one.mirrors:
                if mirror != one.source:
                    yield Evidence(
                        _nested(repository, one.source, mirror),
                        f"{one.origin} maps {one.source} to {mirror}",
                    )


def _from_node_rules(snapshot: Snapshot, repository: str) -> Iterable[Evidence]:
    if isinstance(snapshot.reports, Unavailable):
        return
    for effective in snapshot.reports.effective.values():
        matches = [
            rules
            for rules in map(rules_of_json, effective)
            if not rules.prefix.startswith("*.") and scope_nested(repository, rules.prefix)
        ]
        if not matches:
            continue
        rules = max(matches, key=lambda r: len(r.prefix))  # the longest match wins
        for mirror in rules.mirrors:
            if mirror.applies_to != "tag-only":
                yield Evidence(
                    _nested(repository, rules.prefix, mirror.location),
                    f"a node's registries.conf maps {rules.prefix} to {mirror.location}",
                )


def _repository_of(location: str) -> Optional[str]:
    try:
        return reference.parse_normalized(location).name
    except ReferenceError:
        return None


def _from_reports(snapshot: Snapshot, repository: str) -> Iterable[Evidence]:
    """Digest pulls only: a mirror set maps digest pulls, and a tag pull served by a mirror
    may come from a tag-only rule (or a tag the mirror holds for another digest)."""
    if isinstance(snapshot.reports, Unavailable):
        return
    for report in snapshot.reports.by_node.values():
        for image in report.images:
            try:
                requested = reference.parse_normalized(image.reference or image.image)
            except ReferenceError:
                continue
            if requested.name != repository or requested.digest is None:
                continue
            served = _repository_of(image.served_by or "")
            if image.served_by_kind == "mirror" and served:
                yield Evidence(
                    served,
                    f"{report.node}'s report: {image.image} served by {image.served_by}",
                )
            for holder in image.holders:  # agent check --probe-mirrors
                held = _repository_of(holder)
                if held:
                    yield Evidence(held, f"{report.node}'s probe: {holder} holds {image.image}")


def mirror_evidence(snapshot: Snapshot, target: Target, repository: str) -> list[Evidence]:
    """Mirror repositories shown to hold ``repository``'s images, each once, best first:
    what the nodes pulled or probed, then ``--to-image``, then the rules."""
    found: list[Evidence] = list(_from_reports(snapshot, repository))
    if repository == target.source_repository and target.repository != repository:
        found.append(Evidence(target.repository, f"--to-image names {target.given}"))
    found += _from_mirror_sets(snapshot, repository)
    found += _from_node_rules(snapshot, repository)
    unique: dict[str, Evidence] = {}
    for one in found:
        unique.setdefault(one.mirror, one)
    return list(unique.values())


# Failures that say the registry itself is unreachable (any repository on it would fail);
# the others (manifest unknown, unauthorized, ...) are about one repository.
_HOST_DOWN = frozenset(
    {"connection-refused", "dns", "tls", "timeout", "not-a-registry", "http-to-https"}
)


def failed_mirrors(releases: Sequence[NodeRelease]) -> dict[str, str]:
    """Mirror repositories, and hosts that were unreachable, that failed to serve the
    release on the nodes and served it on none: location -> why (for the evidence)."""
    served = {
        _repository_of(r.served_by or "") for r in releases if r.through_mirror and r.served_by
    }
    served_hosts = {s.split("/", 1)[0] for s in served if s}
    failures: dict[str, dict[str, set[str]]] = {}  # location -> reason -> nodes
    for release in releases:
        for location, kind, reason in release.failures:
            mirror = _repository_of(location) if kind == "mirror" else None
            if mirror is None or mirror in served:
                continue
            failures.setdefault(mirror, {}).setdefault(reason, set()).add(release.node)
            host = mirror.split("/", 1)[0]
            if reason in _HOST_DOWN and host not in served_hosts:
                failures.setdefault(host, {}).setdefault(reason, set()).add(release.node)
    return {
        location: "failed to serve the release on "
        + ", ".join(f"{len(nodes)} node(s) ({reason})" for reason, nodes in sorted(why.items()))
        for location, why in failures.items()
    }


def working(
    evidence: Sequence[Evidence], failed: Mapping[str, str]
) -> tuple[list[Evidence], list[tuple[Evidence, str]]]:
    """The evidence whose mirror did not fail, and the rest with why it is left out."""
    kept, dropped = [], []
    for one in evidence:
        why = failed.get(one.mirror) or failed.get(one.mirror.split("/", 1)[0])
        if why:
            dropped.append((one, why))
        else:
            kept.append(one)
    return kept, dropped


def sources_mirrored_at(snapshot: Snapshot, repository: str) -> list[str]:
    """Mirror-set sources that name ``repository`` as one of their mirrors: a mirror given
    where the source it stands for belongs."""
    found = []
    kind: MirrorSetKind
    for kind, objects in ((ICSP, snapshot.icsps), (IDMS, snapshot.idmss), (ITMS, snapshot.itmss)):
        if isinstance(objects, list):
            found += [
                f"{one.source} ({one.origin})"
                for one in mirror_sets(kind, objects)
                if repository in one.mirrors
            ]
    return list(dict.fromkeys(found))


def instructions(version: tuple[int, int], target: Target) -> list[str]:
    """The commands that print (or are) the right mirror set when no evidence shows where
    the repositories are mirrored: what the mirroring tool wrote."""
    # --print-mirror-instructions exists from oc 4.14; older oc prints an ICSP unasked.
    flag, needs = (
        ("", "") if version < (4, 13) else (" --print-mirror-instructions=idms", "oc >= 4.14; ")
    )
    return [
        f"oc adm release mirror -a {PULL_SECRET} --from={target.source_reference} "
        f'--to="$MIRROR_REPOSITORY"{flag} --dry-run   # {needs}'
        "mirrored with oc adm release mirror: prints the mirror set to apply; "
        "MIRROR_REPOSITORY: the --to it was mirrored with",
        'oc apply -f "$OC_MIRROR_WORKSPACE"/working-dir/cluster-resources/idms-oc-mirror.yaml   '
        "# mirrored with oc-mirror v2 (v1: oc-mirror-workspace/results-*/"
        "imageContentSourcePolicy.yaml)",
    ]


def evidence_json(evidence: Iterable[Evidence]) -> list[Mapping[str, Any]]:
    return [{"mirror": one.mirror, "why": one.why} for one in evidence]
