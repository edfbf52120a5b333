"""The mirror sets of ImageContentSourcePolicy, ImageDigestMirrorSet and ImageTagMirrorSet
objects, and how the Machine Config Operator merges them per source (pure).

Reimplements, from reading the sources, the merging of openshift/runtime-utils
``pkg/registries`` (see docs/pull-resolution.md §5): every set with the same source becomes
one entry; the mirror order is a topological sort of the per-set orders (Kahn's algorithm,
ready nodes queued in alphabetical batches, cycles broken by the alphabetically first unused
mirror); a set whose mirrors all equal the source is ignored; sources are processed
alphabetically. The rendering itself is agent/checklist/mirrors.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from agent.checklist.shapes import shaped_mirror_object

MirrorSetKind = Literal["ImageContentSourcePolicy", "ImageDigestMirrorSet", "ImageTagMirrorSet"]
ICSP: Final = "ImageContentSourcePolicy"
IDMS: Final = "ImageDigestMirrorSet"
ITMS: Final = "ImageTagMirrorSet"
NEVER_CONTACT_SOURCE = "NeverContactSource"
ALLOW_CONTACTING_SOURCE = "AllowContactingSource"
# Which references a mirror serves (pull-from-mirror; mirror-by-digest-only is digest-only).
AppliesTo = Literal["digest-only", "tag-only", "all"]
DIGEST_ONLY: Final = "digest-only"
TAG_ONLY: Final = "tag-only"
ALL: Final = "all"


@dataclass(frozen=True)
class MirrorSet:
    """One source with its mirrors, from one object."""

    kind: MirrorSetKind
    name: str
    source: str
    mirrors: tuple[str, ...]
    policy: str = ""  # mirrorSourcePolicy ("" = AllowContactingSource)
    index: int = 0  # position in the object's list of sets

    @property
    def origin(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def field(self) -> str:
        return f"spec.{SPEC_KEYS[self.kind]}[{self.index}].source"


# The spec field of each kind that lists its sets.
SPEC_KEYS: dict[MirrorSetKind, str] = {
    ICSP: "repositoryDigestMirrors",
    IDMS: "imageDigestMirrors",
    ITMS: "imageTagMirrors",
}


def set_items(
    kind: MirrorSetKind, objects: Iterable[Mapping[str, Any]]
) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """(object name, position in the object's list, the set) of every set that names a
    source, in order, from ICSP, IDMS or ITMS objects as the API returns them."""
    for obj in objects:
        name = str((obj.get("metadata") or {}).get("name", "?"))
        for index, item in enumerate((obj.get("spec") or {}).get(SPEC_KEYS[kind]) or []):
            if isinstance(item, Mapping) and isinstance(item.get("source"), str):
                yield name, index, item


def source_policy(kind: MirrorSetKind, item: Mapping[str, Any]) -> str:
    """A set's mirrorSourcePolicy ("" = AllowContactingSource; an ICSP has none)."""
    return "" if kind == ICSP else str(item.get("mirrorSourcePolicy") or "")


def mirror_sets(kind: MirrorSetKind, objects: Iterable[Mapping[str, Any]]) -> list[MirrorSet]:
    """The sets of ICSP, IDMS or ITMS objects as the API returns them."""
    # A snapshot's objects, or a file's: only their well-typed parts count.
    shaped = (shaped_mirror_object(obj, SPEC_KEYS[kind]) for obj in objects)
    return [
        MirrorSet(
            kind,
            name,
            item["source"],
            tuple(str(m) for m in item.get("mirrors") or [] if isinstance(m, str)),
            source_policy(kind, item),
            index,
        )
        for name, index, item in set_items(kind, shaped)
    ]


def scope_nested(sub: str, sup: str) -> bool:
    """``ScopeIsNestedInsideScope``: ``sub`` is ``sup`` or a namespace/repository in it."""
    if sub == sup:
        return True
    if len(sub) > len(sup) and sub.startswith(sup) and sub[len(sup)] == "/":
        return True
    if sup.startswith("*."):
        if ":" in sub:
            host = sub.split(":", 1)[0]
            return host.endswith(sup[1:]) and "/" not in host
        return sub.split("/", 1)[0].endswith(sup[1:])
    return False


def topological_order(chains: Sequence[Sequence[str]], source: str) -> list[str]:
    """The merged mirror order of one source (runtime-utils ``topoGraph.Sorted``).

    Each chain adds edges between consecutive mirrors and, when the chain does not name
    the source, from its last mirror to the source. The source is dropped when it sorts
    last (it is tried last anyway).
    """
    outs: dict[str, set[str]] = {}
    ins: dict[str, set[str]] = {}

    def node(name: str) -> None:
        outs.setdefault(name, set())
        ins.setdefault(name, set())

    def edge(first: str, second: str) -> None:
        node(first)
        node(second)
        outs[first].add(second)
        ins[second].add(first)

    for chain in chains:
        for first, second in zip(chain, chain[1:]):
            edge(first, second)
        if source not in chain:
            edge(chain[-1], source)
        elif len(chain) == 1:
            node(chain[0])
    every = sorted(outs)
    used: set[str] = set()
    queue = [name for name in every if not ins[name]]
    order: list[str] = []
    index = 0
    while queue or index < len(every):
        if queue:
            current = queue.pop(0)
        else:  # a cycle: break it with the first unused node in alphabetical order
            current = every[index]
            index += 1
            if current in used:
                continue
        used.add(current)
        order.append(current)
        ready = []
        for successor in outs[current]:
            ins[successor].discard(current)
            if not ins[successor] and successor not in used:
                ready.append(successor)
        queue.extend(sorted(ready))
    if order and order[-1] == source:
        order.pop()
    return order


@dataclass(frozen=True)
class MergedSet:
    source: str
    mirrors: tuple[str, ...]
    never_contact_source: bool
    origins: tuple[str, ...]


def merge_sets(sets: Iterable[MirrorSet]) -> list[MergedSet]:
    """One set per source, sorted by source; sets without a real mirror are ignored."""
    by_source: dict[str, list[MirrorSet]] = {}
    for one in sets:
        if not any(mirror != one.source for mirror in one.mirrors):
            continue  # no mirror, or only the source itself: not a mirror set (policy ignored)
        by_source.setdefault(one.source, []).append(one)
    merged = []
    for source in sorted(by_source):
        group = by_source[source]
        merged.append(
            MergedSet(
                source,
                tuple(topological_order([one.mirrors for one in group], source)),
                any(one.policy == NEVER_CONTACT_SOURCE for one in group),
                tuple(sorted({one.origin for one in group})),
            )
        )
    return merged
