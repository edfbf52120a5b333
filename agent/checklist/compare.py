"""What the rendered mirror rules mean (pure): whether digest pulls of a repository reach
a mirror (:func:`coverage`), and how a node's effective registries.conf entries differ from
what the Machine Config Operator renders (:func:`compare`; the rendering is
agent/checklist/mirrors.py).

The comparison with a node is semantic: per source, the mirrors in order with the kind of
reference each applies to (``mirror-by-digest-only`` and per-mirror ``digest-only`` are the
same rule), ``blocked``, ``insecure`` and the location; formatting, file layout and
entries unrelated to mirroring do not matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional

from agent import reference
from agent.checklist.mirror_sets import ALL, DIGEST_ONLY, TAG_ONLY, AppliesTo, scope_nested
from agent.checklist.mirrors import Rendering
from agent.errors import AgentError
from agent.reference import ReferenceError
from agent.registries.model import Configuration, RegistryEntry
from agent.registries.resolve import find_entry, match_length, pull_sources


@dataclass(frozen=True)
class Coverage:
    """Whether digest pulls of a repository go to a mirror under the rendered rules."""

    repository: str
    entry: Optional[str]  # the prefix of the entry that matches, None when none
    mirrors: tuple[str, ...]  # rewritten mirror repositories tried for a digest pull
    source_blocked: bool = False
    problem: Optional[str] = None  # a rewrite error: the pull fails outright

    @property
    def covered(self) -> bool:
        return bool(self.mirrors) and self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "covered": self.covered,
            "entry": self.entry,
            "mirrors": list(self.mirrors),
            "sourceBlocked": self.source_blocked,
            "problem": self.problem,
        }


def coverage(config: Configuration, repository: str, digest: str) -> Coverage:
    try:
        ref = reference.parse_normalized(f"{repository}@{digest}")
    except ReferenceError as exc:
        return Coverage(repository, None, (), problem=exc.message)
    try:
        resolution = pull_sources(config, ref)
    except AgentError as exc:
        entry = find_entry(config, ref.name)
        return Coverage(repository, entry.prefix if entry else None, (), problem=exc.message)
    mirrors = tuple(
        s.location.split("@", 1)[0] for s in resolution.pull_sources if s.kind == "mirror"
    )
    source = resolution.pull_sources[-1]
    return Coverage(repository, resolution.matched_prefix, mirrors, source.blocked)


# --- comparison with a node ---------------------------------------------------------------


@dataclass(frozen=True)
class MirrorRule:
    location: str
    applies_to: AppliesTo
    insecure: bool = False

    def text(self, with_insecure: bool) -> str:
        flags = self.applies_to + (", insecure" if with_insecure and self.insecure else "")
        return f"{self.location} ({flags})"


@dataclass(frozen=True)
class EntryRules:
    prefix: str
    location: str
    blocked: bool
    insecure: bool
    mirrors: tuple[MirrorRule, ...]

    def mirrors_text(self, with_insecure: bool) -> str:
        return ", ".join(m.text(with_insecure) for m in self.mirrors) or "no mirrors"


def _applies_to(by_digest_only: bool, pull_from_mirror: str) -> AppliesTo:
    if by_digest_only or pull_from_mirror == DIGEST_ONLY:
        return DIGEST_ONLY
    return TAG_ONLY if pull_from_mirror == TAG_ONLY else ALL


def rules_of(entry: RegistryEntry) -> EntryRules:
    return EntryRules(
        entry.prefix,
        entry.location,
        entry.blocked,
        entry.insecure,
        tuple(
            MirrorRule(
                m.location, _applies_to(entry.mirror_by_digest_only, m.pull_from_mirror), m.insecure
            )
            for m in entry.mirrors
        ),
    )


def rules_of_json(item: Mapping[str, Any]) -> EntryRules:
    """An entry of a report's ``registriesConf.effective``."""
    by_digest = bool(item.get("mirrorByDigestOnly"))
    return EntryRules(
        str(item.get("prefix", "")),
        str(item.get("location", "")),
        bool(item.get("blocked")),
        bool(item.get("insecure")),
        tuple(
            MirrorRule(
                str(m.get("location", "")),
                _applies_to(by_digest, str(m.get("pullFromMirror") or "")),
                bool(m.get("insecure")),
            )
            for m in item.get("mirrors") or []
            if isinstance(m, Mapping)
        ),
    )


# How much a node's entry differing from the rendering matters (a checklist item's verdict).
DifferenceSeverity = Literal["fail", "warn"]


@dataclass(frozen=True)
class Difference:
    prefix: str
    # missing-entry | mirrors | insecure mirrors | blocked | insecure | location |
    # unexpected-mirrors | shadowing-entry
    aspect: str
    expected: str
    actual: str
    severity: DifferenceSeverity
    scope: Optional[str] = None  # shadowing-entry: the rendered scope the entry lies in

    def text(self) -> str:
        if self.aspect == "missing-entry":
            return f"{self.prefix}: no entry on the node (expected {self.expected})"
        if self.aspect == "unexpected-mirrors":
            return (
                f"{self.prefix}: the node has mirrors no mirror set defines ({self.actual}): "
                "a MachineConfig of its own or an older rendering"
            )
        if self.aspect == "shadowing-entry":
            return (
                f"{self.prefix}: an entry no mirror set renders, inside {self.scope}, takes its "
                f"pulls (the longest match wins): expected {self.expected}; the node has "
                f"{self.actual}"
            )
        return f"{self.prefix}: {self.aspect}: expected {self.expected}; the node has {self.actual}"

    def to_json(self) -> dict[str, Any]:
        document = {
            "prefix": self.prefix,
            "aspect": self.aspect,
            "expected": self.expected,
            "actual": self.actual,
            "severity": self.severity,
        }
        if self.scope is not None:
            document["scope"] = self.scope
        return document


def _explained_by_parent(
    rules: EntryRules, expected: Mapping[str, EntryRules], version: tuple[int, int]
) -> bool:
    """An extra node entry whose mirrors are a parent's, path-adjusted (nested scopes)."""
    if version < (4, 11):
        return False
    for prefix, parent in expected.items():
        if prefix != rules.prefix and parent.mirrors and scope_nested(rules.prefix, prefix):
            suffix = rules.prefix[len(prefix) :]
            adjusted = [(m.location + suffix, m.applies_to) for m in parent.mirrors]
            if adjusted == [(m.location, m.applies_to) for m in rules.mirrors]:
                return True
    return False


def compare(rendering: Rendering, effective: Sequence[Mapping[str, Any]]) -> list[Difference]:
    """Differences between the rendered rules and a node's effective entries, by prefix."""
    flags = rendering.flags_known
    expected = {entry.prefix: rules_of(entry) for entry in rendering.entries}
    actual = {rules.prefix: rules for rules in map(rules_of_json, effective)}
    differences = []
    for prefix, want in expected.items():
        have = actual.get(prefix)
        if have is None:
            differences.append(
                Difference(prefix, "missing-entry", want.mirrors_text(flags), "-", "fail")
            )
            continue
        if want.location != have.location:
            differences.append(Difference(prefix, "location", want.location, have.location, "fail"))
        if [(m.location, m.applies_to) for m in want.mirrors] != [
            (m.location, m.applies_to) for m in have.mirrors
        ]:
            differences.append(
                Difference(
                    prefix, "mirrors", want.mirrors_text(False), have.mirrors_text(False), "fail"
                )
            )
        elif flags and [m.insecure for m in want.mirrors] != [m.insecure for m in have.mirrors]:
            differences.append(
                Difference(
                    prefix,
                    "insecure mirrors",
                    want.mirrors_text(True),
                    have.mirrors_text(True),
                    "fail",
                )
            )
        # Without image.config, a node may be blocked by blockedRegistries we cannot see.
        if want.blocked != have.blocked and (flags or want.blocked):
            differences.append(
                Difference(
                    prefix, "blocked", str(want.blocked).lower(), str(have.blocked).lower(), "fail"
                )
            )
        if flags and want.insecure != have.insecure:
            differences.append(
                Difference(
                    prefix,
                    "insecure",
                    str(want.insecure).lower(),
                    str(have.insecure).lower(),
                    "fail",
                )
            )
    for prefix, have in sorted(actual.items()):
        if prefix in expected:
            continue
        shadowing = _shadowing(have, rendering)
        if shadowing is not None:
            differences.append(shadowing)
            continue
        if not have.mirrors:
            continue
        if not flags and _explained_by_parent(have, expected, rendering.version):
            continue
        differences.append(
            Difference(prefix, "unexpected-mirrors", "-", have.mirrors_text(False), "warn")
        )
    return differences


def _shadowing(have: EntryRules, rendering: Rendering) -> Optional[Difference]:
    """An extra node entry inside a rendered scope with mirrors: pulls of names under it
    use only this entry (the longest match wins, mirrors of the scope are not merged in), so
    unless it carries the scope's mirrors, path-adjusted, it takes them away (and a
    NeverContactSource block with them). None when the entry is outside every mirrored
    scope, or agrees with it."""
    if have.prefix.startswith("*."):
        return None
    parent = find_entry(rendering.config, have.prefix)
    if parent is None or not parent.mirrors or parent.prefix == have.prefix:
        return None
    suffix = have.prefix[match_length(have.prefix, parent.prefix) :]
    inherited = tuple(
        MirrorRule(m.location + suffix, m.applies_to, m.insecure) for m in rules_of(parent).mirrors
    )
    mirrors_agree = [(m.location, m.applies_to) for m in inherited] == [
        (m.location, m.applies_to) for m in have.mirrors
    ]
    location = parent.location + suffix if parent.location else have.location
    # The MCO does not carry a block into nested scopes: its own nested entries (from
    # image.config, insecure or blocked) may be unblocked, which only image.config tells.
    unblocked = parent.blocked and not have.blocked and (rendering.flags_known or not have.insecure)
    if mirrors_agree and have.location == location and not unblocked:
        return None  # the parent's rules, repeated: resolution is unchanged
    expected = ", ".join(m.text(False) for m in inherited)
    actual = have.mirrors_text(False)
    if unblocked:
        expected, actual = f"{expected}, source blocked", f"{actual}, source not blocked"
    if have.location != location:
        expected, actual = f"{expected}, location {location}", f"{actual}, location {have.location}"
    # Before 4.11 the MCO itself renders blocked/insecure registrySources scopes without the
    # parent's mirrors; without image.config such an entry may be the MCO's own.
    severity: DifferenceSeverity = "fail"
    if (
        not rendering.flags_known
        and rendering.version < (4, 11)
        and not have.mirrors
        and (have.blocked or have.insecure)
        and have.location == location
    ):
        severity = "warn"
    return Difference(
        have.prefix, "shadowing-entry", expected, actual, severity, scope=parent.prefix
    )
