"""``agent collect`` summaries that fit a terminal and a change ticket (pure): nodes with
the same result grouped into one row, each distinct finding once with the nodes it
affects, and per image how many nodes passed, warned or failed and who served it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.collect import NodeRow

_RANK = {"fail": 0, "error": 0, "missing": 1, "stale": 2, "drift": 2, "warn": 3, "pass": 4}


def node_state(row: NodeRow) -> str:
    if row.status in ("missing", "orphaned", "unknown"):
        return row.status.upper()
    state = (row.verdict or "?").upper()
    if row.status == "stale":
        state += " (stale)"
    if row.drift:
        state += " (drift)"
    return state


def node_notes(row: NodeRow) -> list[str]:
    """Why a node is not simply passing: drift, staleness, then its findings."""
    notes = []
    if row.drift:
        notes.append(
            f"drift: registries.conf fingerprint {row.fingerprint} differs "
            + (f"in pool {row.pool}" if row.pool else "from the other nodes (pools unknown)")
        )
    if row.stale_reason:
        notes.append(f"stale: {row.stale_reason}")
    if row.status == "missing":
        notes.append("missing: no report from this node (is the agent's pod running there?)")
    return notes + list(row.findings)


def _general(note: str) -> str:
    """A note without what differs from node to node (a report's age)."""
    return re.sub(r"checked \S+ ago", "checked … ago", note)


@dataclass
class NodeGroup:
    """Nodes with the same state and the same notes. Who served the images is not part of
    the key: a flaky first mirror would make a group of every subset of images that fell
    back (the per-image table counts the sources)."""

    state: str
    notes: tuple[str, ...]
    nodes: list[NodeRow] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [row.node for row in self.nodes]

    @property
    def pools(self) -> str:
        return ",".join(sorted({row.pool or "-" for row in self.nodes}))

    @property
    def checked(self) -> str:
        times = sorted(row.checked_at for row in self.nodes if row.checked_at)
        if not times:
            return "-"
        return times[0] if times[0] == times[-1] else f"{times[0]} … {times[-1]}"


def group_nodes(rows: Iterable[NodeRow]) -> list[NodeGroup]:
    """Groups, worst first, then the largest."""
    groups: dict[tuple[str, tuple[str, ...]], NodeGroup] = {}
    for row in rows:
        notes = tuple(_general(note) for note in node_notes(row))
        key = (node_state(row), notes)
        groups.setdefault(key, NodeGroup(*key)).nodes.append(row)
    return sorted(groups.values(), key=lambda g: (_rank(g.nodes[0]), -len(g.nodes), g.names[0]))


def _rank(row: NodeRow) -> int:
    if row.status == "orphaned":
        return 9
    if row.status in ("missing", "stale"):
        return _RANK[row.status]
    if row.drift:
        return _RANK["drift"]
    return _RANK.get(row.verdict or "error", 0)


def first_names(names: Sequence[str], shown: int) -> str:
    """The first ``shown`` names, and how many more."""
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


@dataclass
class Finding:
    """One distinct finding and the nodes it affects."""

    text: str
    worst: str  # the worst state of the nodes it affects (fail, missing, stale, warn ...)
    nodes: list[str] = field(default_factory=list)


def distinct_findings(rows: Iterable[NodeRow]) -> list[Finding]:
    found: dict[str, Finding] = {}
    for row in rows:
        if row.status == "orphaned":
            continue
        state = row.status if row.status in ("missing", "stale") else (row.verdict or "error")
        if row.drift and _RANK["drift"] < _RANK.get(state, 0):
            state = "drift"
        for note in dict.fromkeys(_general(n) for n in node_notes(row)):
            finding = found.setdefault(note, Finding(note, state))
            if _RANK.get(state, 0) < _RANK.get(finding.worst, 0):
                finding.worst = state
            finding.nodes.append(row.node)
    return sorted(found.values(), key=lambda f: (_RANK.get(f.worst, 0), -len(f.nodes), f.text))


@dataclass
class ImageLine:
    image: str
    verdicts: Counter[str]
    served: Counter[tuple[str, str]]  # (location, kind) -> nodes


def per_image(rows: Iterable[NodeRow]) -> list[ImageLine]:
    """Per image: the nodes' verdicts and who served it on how many nodes (orphaned
    reports left out, as in the summary's counts)."""
    lines: dict[str, ImageLine] = {}
    for row in rows:
        if row.status == "orphaned":
            continue
        for image, served, kind, verdict in row.served:
            line = lines.setdefault(image, ImageLine(image, Counter(), Counter()))
            line.verdicts[verdict] += 1
            line.served[(served or "nothing", kind or ("-" if not served else "unknown"))] += 1
    return [lines[image] for image in sorted(lines)]


def served_location(image: str, location: str) -> str:
    """A serving location, without the digest when it is the image's own (the image column
    has it whole)."""
    if "@" in image and "@" in location and image.split("@", 1)[1] == location.split("@", 1)[1]:
        return location.split("@", 1)[0]
    return location
