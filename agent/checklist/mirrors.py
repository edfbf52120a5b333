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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from agent import reference
from agent.checklist.mco_validation import (
    Refusal,
    Scope,
    go_quote,
    indexed,
    mixed_kinds_refusal,
    policy_refusals,
    registries_refusals,
)
from agent.checklist.mirror_sets import (
    DIGEST_ONLY,
    ICSP,
    IDMS,
    ITMS,
    SPEC_KEYS,
    TAG_ONLY,
    MergedSet,
    MirrorSet,
    merge_sets,
    mirror_sets,
    scope_nested,
)
from agent.checklist.shapes import shaped_image_config, shaped_mirror_object
from agent.checklist.version import version_text
from agent.errors import AgentError
from agent.reference import ReferenceError
from agent.registries.model import Configuration, Mirror, RegistryEntry
from agent.registries.resolve import pull_sources


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
    # Refusals of some z-streams of this minor, the cluster's z-stream unknown.
    possible_problems: tuple[Refusal, ...] = ()
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
    z_stream: Optional[int] = None,
) -> Rendering:
    """The entries the MCO of OCP ``version`` renders from these objects.

    ``z_stream``: the patch release (4.13.<z>), None when unknown: some refusals depend
    on it.

    ``image_config`` is ``image.config.openshift.io/cluster`` (None when there is none);
    ``flags_known`` is False when it could not be read. ``release_image`` is
    ClusterVersion ``status.desired.image`` (the payload the blocked scopes must spare).
    """
    # Objects from files have not been through the API server's schema: the renderer
    # sees only their well-typed parts (agent.plan.validate reports the rest).
    icsps = [shaped_mirror_object(obj, SPEC_KEYS[ICSP]) for obj in icsps]
    idmss = [shaped_mirror_object(obj, SPEC_KEYS[IDMS]) for obj in idmss]
    itmss = [shaped_mirror_object(obj, SPEC_KEYS[ITMS]) for obj in itmss]
    image_config = shaped_image_config(image_config)
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
    possible: list[Refusal] = []
    mixed = mixed_kinds_refusal(version, z_stream, icsps, idmss, itmss)
    if mixed is not None:
        (problems if mixed[1] else possible).append(mixed[0])
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
        possible_problems=tuple(possible),
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
