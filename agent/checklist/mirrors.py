"""The registries.conf entries the Machine Config Operator renders from mirror sets (pure).

Reimplements, from reading the sources, ``EditRegistriesConfig`` of openshift/runtime-utils
``pkg/registries`` as vendored by each machine-config-operator release, and the blocked-
registry filtering of ``pkg/controller/container-runtime-config/helpers.go``
(see docs/pull-resolution.md §5):

* OCP ≤ 4.12: ImageContentSourcePolicy only; each merged source gets
  ``mirror-by-digest-only = true`` and plain mirrors. ImageDigestMirrorSet and
  ImageTagMirrorSet do not exist there and are ignored.
* OCP ≥ 4.13: ICSP and IDMS mirrors become ``pull-from-mirror = "digest-only"`` mirrors, ITMS
  mirrors ``"tag-only"`` mirrors appended after the digest mirrors of the same source;
  ``mirrorSourcePolicy: NeverContactSource`` in any IDMS/ITMS set of a source blocks it.
  Conflicting policies for one source make the operator refuse to render anything.
* Merging: every set with the same source becomes one entry; the mirror order is a
  topological sort of the per-set orders (Kahn's algorithm, ready nodes queued in
  alphabetical batches, cycles broken by the alphabetically first unused mirror); a set
  whose mirrors all equal the source is ignored; sources are processed alphabetically.
* ``image.config.openshift.io/cluster`` ``registrySources``: insecure scopes mark entries
  and mirrors inside them insecure, blocked scopes add blocked entries (a scope that would
  block the release payload is dropped unless the payload has an unblocked digest mirror).
* Nested scopes (OCP ≥ 4.11): an entry inside a mirrored scope that has no mirrors of its
  own receives the parent's mirrors, with the path difference appended. A wildcard source
  (accepted from 4.16) cannot pass its mirrors on: runtime-utils fails, so does the MCO.
* Before rendering, the MCO validates the objects (agent/checklist/mco_validation.py). When
  it refuses, it renders nothing and the nodes keep the file they have: the rendering then
  carries the refusals as ``problems`` (its entries are what the objects would render).

The comparison with a node is semantic: per source, the mirrors in order with the kind of
reference each applies to (``mirror-by-digest-only`` and per-mirror ``digest-only`` are the
same rule), ``blocked``, ``insecure`` and the location; formatting, file layout and
entries unrelated to mirroring do not matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from agent import reference
from agent.checklist.mco_validation import (
    Refusal,
    Scope,
    go_quote,
    indexed,
    policy_refusals,
    registries_refusals,
)
from agent.errors import AgentError
from agent.reference import ReferenceError
from agent.registries.model import Configuration, Mirror, RegistryEntry
from agent.registries.resolve import find_entry, match_length, pull_sources

ICSP = "ImageContentSourcePolicy"
IDMS = "ImageDigestMirrorSet"
ITMS = "ImageTagMirrorSet"
NEVER_CONTACT_SOURCE = "NeverContactSource"
ALLOW_CONTACTING_SOURCE = "AllowContactingSource"
DIGEST_ONLY, TAG_ONLY, ALL = "digest-only", "tag-only", "all"
LATEST = (4, 99)  # "current MCO releases" when the version is unknown


def parse_ocp_version(text: str) -> tuple[int, int]:
    """``4.14.8``, ``4.15``, ``4.16.0-rc.1`` → (4, 14); ValueError otherwise."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$", text.strip())
    if not match:
        raise ValueError(f"not an OpenShift version: {text!r} (use e.g. 4.14 or 4.14.8)")
    return int(match.group(1)), int(match.group(2))


def version_text(version: tuple[int, int]) -> str:
    return "latest" if version == LATEST else f"{version[0]}.{version[1]}"


# --- mirror sets --------------------------------------------------------------------------


@dataclass(frozen=True)
class MirrorSet:
    """One source with its mirrors, from one object."""

    kind: str  # ICSP | IDMS | ITMS
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
        return f"spec.{_SPEC_KEYS[self.kind]}[{self.index}].source"


_SPEC_KEYS = {ICSP: "repositoryDigestMirrors", IDMS: "imageDigestMirrors", ITMS: "imageTagMirrors"}


def mirror_sets(kind: str, objects: Iterable[Mapping[str, Any]]) -> list[MirrorSet]:
    """The sets of ICSP, IDMS or ITMS objects as the API returns them."""
    found = []
    for obj in objects:
        name = str((obj.get("metadata") or {}).get("name", "?"))
        for index, item in enumerate((obj.get("spec") or {}).get(_SPEC_KEYS[kind]) or []):
            if not isinstance(item, Mapping) or not isinstance(item.get("source"), str):
                continue
            mirrors = tuple(str(m) for m in item.get("mirrors") or [] if isinstance(m, str))
            policy = "" if kind == ICSP else str(item.get("mirrorSourcePolicy") or "")
            found.append(MirrorSet(kind, name, item["source"], mirrors, policy, index))
    return found


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


# --- rendering ----------------------------------------------------------------------------


@dataclass
class _Endpoint:
    location: str
    insecure: bool = False
    pull_from_mirror: str = ""


@dataclass
class _Entry:
    scope: str
    insecure: bool = False
    blocked: bool = False
    digest_only: bool = False
    mirrors: list[_Endpoint] = field(default_factory=list)


@dataclass(frozen=True)
class Rendering:
    """What the MCO writes to /etc/containers/registries.conf for these objects."""

    version: tuple[int, int]
    # Sorted by prefix, as containers/image holds them; when the MCO refuses, what the
    # objects would render once it accepts them (nodes keep their file meanwhile).
    entries: tuple[RegistryEntry, ...]
    problems: tuple[Refusal, ...] = ()  # why the MCO refuses to render
    notes: tuple[str, ...] = ()
    flags_known: bool = True  # image.config registrySources were read (insecure/blocked)
    origins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # source -> objects

    @property
    def refused(self) -> bool:
        """The MCO renders nothing: every node should keep the registries.conf it has."""
        return bool(self.problems)

    @property
    def config(self) -> Configuration:
        return Configuration(registries=self.entries)

    def entry(self, prefix: str) -> Optional[RegistryEntry]:
        return next((entry for entry in self.entries if entry.prefix == prefix), None)

    def to_json(self) -> list[dict[str, Any]]:
        return [entry.canonical() for entry in self.entries]


def _repository(text: str) -> Optional[reference.ImageReference]:
    try:
        return reference.parse_normalized(text)
    except ReferenceError:
        return None


def _valid_blocked_scopes(
    version: tuple[int, int],
    blocked: Sequence[str],
    insecure: Sequence[str],
    digest_sets: Sequence[MirrorSet],
    release_image: Optional[str],
    notes: list[str],
) -> list[str]:
    """Blocked scopes minus those that would block the release payload (helpers.go)."""
    payload = _repository(release_image) if release_image else None
    if payload is None:
        return list(blocked)
    if version < (4, 11):  # getValidBlockedRegistries: drops a scope equal to the payload host
        kept = [scope for scope in blocked if scope != payload.domain]
        if len(kept) != len(blocked):
            notes.append(f"blocked registry {payload.domain} is the payload's: not blocked")
        return kept
    trial, _ = _render_entries(version, digest_sets, [], list(insecure), list(blocked))
    sources = []
    try:
        resolution = pull_sources(Configuration(registries=trial), payload.for_pull())
        sources = [s.location for s in resolution.pull_sources]
    except AgentError:
        pass
    usable = any(
        not any(scope_nested(_name_of(location), scope) for scope in blocked)
        for location in sources
    )
    kept = []
    for scope in blocked:
        if scope_nested(payload.name, scope) and not usable:
            notes.append(
                f"blocked registry {scope} would block the release payload {payload.name}, "
                "which has no unblocked mirror: the MCO leaves it out"
            )
            continue
        kept.append(scope)
    return kept


def _name_of(location: str) -> str:
    """The repository of a rewritten digest reference (``host/path@sha256:...``)."""
    return location.split("@", 1)[0]


def _render_entries(
    version: tuple[int, int],
    digest_sets: Sequence[MirrorSet],
    tag_sets: Sequence[MirrorSet],
    insecure_scopes: Sequence[str],
    blocked_scopes: Sequence[str],
) -> tuple[tuple[RegistryEntry, ...], Optional[Refusal]]:
    """The entries, and the error that stops runtime-utils' ``EditRegistriesConfig``."""
    legacy = version < (4, 13)
    failure: Optional[Refusal] = None
    entries: list[_Entry] = []

    def get(scope: str) -> _Entry:
        for entry in entries:
            if entry.scope == scope:
                return entry
        entry = _Entry(scope)
        entries.append(entry)
        return entry

    merged_digest = merge_sets(digest_sets)
    merged_tag = [] if legacy else merge_sets(tag_sets)
    for merged, rule in ((merged_digest, DIGEST_ONLY), (merged_tag, TAG_ONLY)):
        for one in merged:
            entry = get(one.source)
            if legacy:
                entry.digest_only = True
                entry.mirrors += [_Endpoint(mirror) for mirror in one.mirrors]
                continue
            if one.never_contact_source:
                entry.blocked = True
            entry.mirrors += [_Endpoint(mirror, False, rule) for mirror in one.mirrors]
    for scope in blocked_scopes:
        get(scope)
    for scope in insecure_scopes:
        get(scope).insecure = True
        for entry in entries:
            if scope_nested(entry.scope, scope):
                entry.insecure = True
            for mirror in entry.mirrors:
                if scope_nested(mirror.location, scope):
                    mirror.insecure = True
    for scope in blocked_scopes:
        get(scope).blocked = True
        for entry in entries:
            if scope_nested(entry.scope, scope):
                entry.blocked = True
    if version >= (4, 11):  # runtime-utils "propagate mirror configuration to nested scopes"
        for one in [*merged_digest, *merged_tag]:
            parent = get(one.source)
            for entry in entries:
                if (
                    entry.scope != parent.scope
                    and scope_nested(entry.scope, parent.scope)
                    and not entry.mirrors
                ):
                    if parent.scope.startswith("*."):
                        # mirrorsAdjustedForNestedScope refuses wildcard scopes: the MCO
                        # stops there and renders nothing.
                        failure = failure or _wildcard_refusal(
                            one, entry.scope, [*digest_sets, *tag_sets]
                        )
                        continue
                    suffix = entry.scope[len(parent.scope) :]
                    if legacy:
                        entry.digest_only = parent.digest_only
                    entry.mirrors = [
                        _Endpoint(m.location + suffix, m.insecure, m.pull_from_mirror)
                        for m in parent.mirrors
                    ]
    rendered = [
        RegistryEntry(
            prefix=entry.scope,
            location="" if entry.scope.startswith("*.") else entry.scope,
            insecure=entry.insecure,
            blocked=entry.blocked,
            mirror_by_digest_only=entry.digest_only,
            mirrors=tuple(
                Mirror(m.location, m.insecure, m.pull_from_mirror) for m in entry.mirrors
            ),
            origin="machine-config-operator",
        )
        for entry in entries
    ]
    return tuple(sorted(rendered, key=lambda entry: entry.prefix)), failure


def _wildcard_refusal(one: MergedSet, nested: str, sets: Sequence[MirrorSet]) -> Refusal:
    first = next(s for s in sets if s.source == one.source)
    return Refusal(
        first.kind,
        first.name,
        first.field,
        "could not update registries config with new changes: internal error: "
        f"mirrorsAdjustedForNestedScope for a wildcard scope {go_quote(one.source)}",
        detail=(
            f"{nested} lies inside the wildcard source {one.source} and has no mirrors of its "
            "own; runtime-utils cannot carry a wildcard scope's mirrors into it"
        ),
    )


def render_registries(
    icsps: Iterable[Mapping[str, Any]],
    idmss: Iterable[Mapping[str, Any]],
    itmss: Iterable[Mapping[str, Any]],
    *,
    version: tuple[int, int],
    image_config: Optional[Mapping[str, Any]] = None,
    flags_known: bool = True,
    release_image: Optional[str] = None,
) -> Rendering:
    """The entries the MCO of OCP ``version`` renders from these objects.

    ``image_config`` is ``image.config.openshift.io/cluster`` (None when there is none);
    ``flags_known`` is False when it could not be read. ``release_image`` is
    ClusterVersion ``status.desired.image`` (the payload the blocked scopes must spare).
    """
    icsps, idmss, itmss = list(icsps), list(idmss), list(itmss)
    icsp_sets = mirror_sets(ICSP, icsps)
    idms_sets = mirror_sets(IDMS, idmss)
    itms_sets = mirror_sets(ITMS, itmss)
    notes: list[str] = []
    if version < (4, 13):
        ignored = sorted({one.origin for one in [*idms_sets, *itms_sets]})
        if ignored:
            notes.append(
                f"OCP {version_text(version)}: the MCO renders ImageContentSourcePolicy only; "
                f"ignored: {', '.join(ignored)}"
            )
        digest_sets: list[MirrorSet] = icsp_sets
        tag_sets: list[MirrorSet] = []
    else:
        digest_sets = [*idms_sets, *icsp_sets]
        tag_sets = itms_sets
        if icsp_sets and (idms_sets or itms_sets) and version < (4, 15):
            notes.append(
                "ImageContentSourcePolicy together with ImageDigestMirrorSet/ImageTagMirrorSet: "
                "MCO releases of 4.13/4.14 before the late-2023 backports refuse this "
                "combination (convert with: oc adm migrate icsp <file>)"
            )
    sources = (image_config or {}).get("spec", {}).get("registrySources") or {}
    insecure = [str(s) for s in sources.get("insecureRegistries") or []]
    blocked_all = [str(s) for s in sources.get("blockedRegistries") or []]
    allowed = [str(s) for s in sources.get("allowedRegistries") or []]
    blocked = _valid_blocked_scopes(
        version, blocked_all, insecure, digest_sets, release_image, notes
    )
    kept = [(index, scope) for index, scope in indexed(blocked_all) if scope in blocked]
    policy_blocked, policy_allowed = _policy_lists(version, kept, allowed, release_image)
    payload = _repository(release_image) if release_image else None
    problems: list[Refusal] = []
    for refusal in [
        *registries_refusals(version, icsps, idmss, itmss, indexed(insecure), kept),
        *policy_refusals(
            version, policy_blocked, policy_allowed, payload.name if payload else None
        ),
    ]:
        if refusal not in problems:  # policy.json repeats the blocked scopes' check
            problems.append(refusal)
    entries, failure = _render_entries(version, digest_sets, tag_sets, insecure, blocked)
    if failure is not None and not problems:  # validation comes first
        problems.append(failure)
    if version < (4, 11) and _has_empty(insecure, blocked, digest_sets):
        notes.append(
            f"OCP {version_text(version)}: the MCO renders an empty registry or mirror as it is; "
            "containers/image on the nodes then refuses the whole registries.conf"
        )
    origins: dict[str, list[str]] = {}
    for one in [*digest_sets, *tag_sets]:
        origins.setdefault(one.source, [])
        if one.origin not in origins[one.source]:
            origins[one.source].append(one.origin)
    return Rendering(
        version=version,
        entries=entries,
        problems=tuple(problems),
        notes=tuple(notes),
        flags_known=flags_known,
        origins={source: tuple(sorted(names)) for source, names in origins.items()},
    )


def _policy_lists(
    version: tuple[int, int],
    kept: Sequence[Scope],
    allowed: Sequence[str],
    release_image: Optional[str],
) -> tuple[list[Scope], list[Scope]]:
    """The blocked and allowed scopes the MCO writes to policy.json. From 4.11 a blocked
    scope that covers the payload (kept only when the payload has a mirror) lets the payload
    repository itself be allowed, and is not blocked there when it is that repository."""
    payload = _repository(release_image) if release_image else None
    if version < (4, 11) or payload is None:
        return list(kept), indexed(allowed)
    policy_blocked: list[Scope] = []
    extra: list[Scope] = []
    for index, scope in kept:
        if scope_nested(payload.name, scope):
            if scope != payload.name:
                policy_blocked.append((index, scope))
            extra.append((-1, payload.name))
            continue
        policy_blocked.append((index, scope))
    return policy_blocked, [*extra, *indexed(allowed)]


def _has_empty(insecure: Sequence[str], blocked: Sequence[str], sets: Sequence[MirrorSet]) -> bool:
    return (
        "" in insecure
        or "" in blocked
        or any(one.source == "" or "" in one.mirrors for one in sets)
    )


# --- coverage -----------------------------------------------------------------------------


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
    applies_to: str  # digest-only | tag-only | all
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


def _applies_to(by_digest_only: bool, pull_from_mirror: str) -> str:
    if by_digest_only:
        return DIGEST_ONLY
    return pull_from_mirror if pull_from_mirror in (DIGEST_ONLY, TAG_ONLY) else ALL


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
