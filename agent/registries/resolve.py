"""Select the entry for a reference and compute its ordered pull sources (pure).

Mirrors ``FindRegistry``, ``PullSourcesFromReference`` and ``rewriteReference`` of
containers/image ``pkg/sysregistriesv2`` and the per-attempt ``blocked`` check of
``docker/docker_client.go``; see docs/registries-conf.md §6-§9.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

from agent import reference
from agent.errors import AgentError, RewriteError
from agent.reference import ReferenceError
from agent.registries.model import (
    Configuration,
    Explanation,
    Problem,
    PullSource,
    RegistryEntry,
    Resolution,
    ShortNameCandidate,
    SkippedMirror,
)
from agent.vocabulary import SourceKind


def match_length(name: str, prefix: str) -> int:
    """``refMatchingPrefix``: the length of ``name`` matched by ``prefix``, or -1.

    A plain prefix matches the name itself or the name followed by ``/``, ``:`` or ``@``
    (so a host-only prefix also matches every port of that host, as upstream does). A
    wildcard ``*.S`` matches at the first occurrence of ``.S`` in the host part.
    """
    if prefix.startswith("*."):
        suffix = prefix[1:]
        index = name.find(suffix)
        if index == -1 or "/" in name[:index]:
            return -1
        end = index + len(suffix)
        if end == len(name) or name[end] in ":/@":
            return end
        return -1
    if not name.startswith(prefix):
        return -1
    if len(name) == len(prefix) or name[len(prefix)] in ":/@":
        return len(prefix)
    return -1


def find_entry(config: Configuration, name: str) -> Optional[RegistryEntry]:
    """The entry with the longest matching prefix string; ties go to the byte-smaller prefix."""
    best: Optional[RegistryEntry] = None
    for entry in config.registries:  # sorted by prefix, so a tie keeps the earlier one
        if (best is None or len(entry.prefix) > len(best.prefix)) and match_length(
            name, entry.prefix
        ) != -1:
            best = entry
    return best


def sources_of(config: Configuration, repository: str) -> list[str]:
    """Every source a mirror repository or reference may stand for, most likely first
    (the longest matching mirror location, then file order); ``[repository]`` when no
    mirror names it. What follows the mirror location is kept, so a tag or digest
    survives: ``mirror.example.net/ocp@sha256:…`` maps to ``quay.io/ocp@sha256:…``.

    Several entries can share one mirror (oc-mirror sends the release and the payload
    repositories to the same one), so a mirror location alone may not tell which.
    """
    found: list[tuple[int, int, str]] = []
    for position, entry in enumerate(config.registries):
        for mirror in entry.mirrors:
            length = match_length(repository, mirror.location)
            source = (entry.location or entry.prefix) + repository[length:]
            if length != -1 and source not in (known for _, _, known in found):
                found.append((-length, position, source))
    return [source for _, _, source in sorted(found)] or [repository]


def source_of(config: Configuration, repository: str) -> str:
    """The most likely source of a mirror repository or reference (see :func:`sources_of`)."""
    return sources_of(config, repository)[0]


@dataclass(frozen=True)
class _Endpoint:
    location: str
    insecure: bool
    kind: SourceKind


def _skip_reason(entry: RegistryEntry, pull_from_mirror: str, digested: bool) -> Optional[str]:
    if entry.mirror_by_digest_only:
        if not digested:
            return "mirror-by-digest-only = true and the reference has no digest"
        return None
    if pull_from_mirror == "digest-only" and not digested:
        return 'pull-from-mirror = "digest-only" and the reference has no digest'
    if pull_from_mirror == "tag-only" and digested:
        return 'pull-from-mirror = "tag-only" and the reference has a digest'
    return None


def pull_sources(config: Configuration, ref: reference.ImageReference) -> Resolution:
    """The sources a pull of ``ref`` tries, in order; ``ref`` must already be pull-normalised.

    Raises RewriteError when a rewritten source is not a valid reference: upstream then
    fails the whole pull without contacting anything, the primary included.
    """
    text = str(ref)
    entry = find_entry(config, ref.name)
    if entry is None:
        source = PullSource(text, "source", insecure=False, blocked=False, reference=ref)
        return Resolution(text, None, (source,))

    digested = ref.digest is not None
    endpoints: list[_Endpoint] = []
    skipped: list[SkippedMirror] = []
    matched = match_length(text, entry.prefix)
    for mirror in entry.mirrors:
        reason = _skip_reason(entry, mirror.pull_from_mirror, digested)
        if reason:
            skipped.append(SkippedMirror(mirror.location + text[matched:], reason))
        else:
            endpoints.append(_Endpoint(mirror.location, mirror.insecure, "mirror"))
    endpoints.append(_Endpoint(entry.location, entry.insecure, "source"))

    sources = []
    for endpoint in endpoints:
        if endpoint.location:
            rewritten = endpoint.location + text[matched:]
            try:
                physical = reference.parse_canonical(rewritten)
            except ReferenceError as exc:
                raise RewriteError(
                    f"{endpoint.kind} {endpoint.location!r} of registry {entry.label} turns "
                    f"{text!r} into {rewritten!r}, which is not a valid image reference "
                    f"({exc.message}); the pull fails before any source is contacted",
                    hint="give the mirror location a repository path, a host with a '.' "
                    "or ':', and lowercase characters only",
                ) from None
        else:  # a wildcard entry without location keeps the reference as it is
            physical, rewritten = ref, text
        blocking = find_entry(config, physical.name)
        blocked = blocking is not None and blocking.blocked
        sources.append(
            PullSource(
                location=rewritten,
                kind=endpoint.kind,
                insecure=endpoint.insecure,
                blocked=blocked,
                reference=physical,
                blocked_by=blocking.prefix if blocked and blocking else None,
            )
        )
    return Resolution(text, entry, tuple(sources), tuple(skipped))


def short_name_candidates(
    config: Configuration,
    short_name: str,
    cached_aliases: Optional[Mapping[str, str]] = None,
) -> tuple[ShortNameCandidate, ...]:
    """What a short name expands to (``pkg/shortnames.Resolve``), without a TTY.

    ``cached_aliases`` is the machine-written short-name-aliases.conf, which takes
    precedence over registries.conf aliases (an empty value there hides an alias).
    """
    parsed = reference.parse_normalized(short_name)
    # The alias key is the short name as typed, without tag or digest.
    key = short_name.split("@", 1)[0]
    if ":" in key.rsplit("/", 1)[-1]:
        key = key.rsplit(":", 1)[0]
    suffix = (f":{parsed.tag}" if parsed.tag else "") + (
        f"@{parsed.digest}" if parsed.digest else ""
    )

    alias_value: Optional[str] = None
    alias_origin: Optional[str] = None
    if cached_aliases is not None and key in cached_aliases:
        alias_value, alias_origin = cached_aliases[key] or None, "short-name-aliases.conf"
    else:
        alias = config.alias(key)
        if alias is not None:
            alias_value, alias_origin = alias.value, alias.origin
    if alias_value:
        candidate = reference.parse_normalized(alias_value + suffix).with_default_tag()
        return (ShortNameCandidate(str(candidate), "alias", candidate, alias_origin),)

    registries = config.unqualified_search_registries
    if not registries:
        where = config.unqualified_search_registries_origin or "any registries.conf"
        raise AgentError(
            f"short name {short_name!r} matches no alias and no unqualified-search-registries "
            f"are defined in {where}",
            hint="use a fully qualified reference (host/repository@sha256:...)",
        )
    expanded = [
        reference.parse_normalized(f"{registry}/{short_name}").with_default_tag()
        for registry in registries
    ]
    candidates = tuple(
        ShortNameCandidate(
            str(candidate),
            "unqualified-search-registries",
            candidate,
            config.unqualified_search_registries_origin,
        )
        for candidate in expanded
    )
    if len(candidates) > 1 and config.short_name_mode == "enforcing":
        raise AgentError(
            f"short name {short_name!r} is ambiguous ({len(candidates)} search registries) and "
            "short-name-mode is enforcing: podman refuses it without a terminal to prompt on",
            hint="use a fully qualified reference or define an alias",
        )
    return candidates


def _drop_tag_if_digested(short_name: str) -> str:
    """``name:tag@digest`` -> ``name@digest``: libimage drops the tag before resolving, so
    candidates (aliases too) carry the digest only, as podman prints them."""
    name_tag, at, digest = short_name.partition("@")
    name, colon, _ = name_tag.rpartition(":")
    if at and colon and "/" not in name_tag[len(name) :]:
        return f"{name}@{digest}"
    return short_name


def _candidate_resolution(config: Configuration, candidate: ShortNameCandidate) -> Resolution:
    """One candidate's sources; a rewrite error ends this candidate only (libimage's loop
    records each candidate's error and goes on to the next)."""
    ref = candidate.parsed.for_pull()
    try:
        return pull_sources(config, ref)
    except RewriteError as exc:
        problem = Problem(exc.kind, "rewrite", exc.message)
        return Resolution(str(ref), find_entry(config, ref.name), (), problem=problem)


def _all_candidates_failed(resolutions: tuple[Resolution, ...]) -> Optional[Problem]:
    """The reference's problem when no candidate tries any source, else None."""
    problems = [resolution.problem for resolution in resolutions if resolution.problem]
    if not problems or len(problems) < len(resolutions):
        return None
    if len(problems) == 1:
        return problems[0]
    messages = "; ".join(
        f"{resolution.reference}: {problem.message}"
        for resolution, problem in zip(resolutions, problems)
    )
    kind, stage = problems[0].kind, problems[0].stage
    return Problem(kind, stage, f"every short-name candidate fails: {messages}")


def explain(
    config: Configuration, given: str, cached_aliases: Optional[Mapping[str, str]] = None
) -> Explanation:
    """The sources for one reference as typed by a user; problems are reported, not raised."""
    try:
        if not reference.is_short_name(given):
            return explain_reference(config, given, reference.parse_normalized(given))
        candidates = short_name_candidates(config, _drop_tag_if_digested(given), cached_aliases)
    except ReferenceError as exc:
        return Explanation(given, problem=Problem(exc.kind, "reference", exc.message))
    except AgentError as exc:
        return Explanation(given, problem=Problem("short-name", "short-name", exc.message))
    resolutions = tuple(_candidate_resolution(config, c) for c in candidates)
    return Explanation(given, None, resolutions, candidates, _all_candidates_failed(resolutions))


def explain_reference(
    config: Configuration, given: str, ref: reference.ImageReference
) -> Explanation:
    """:func:`explain` for a fully qualified reference, parsed where it entered the agent."""
    normalized = ref.for_pull()
    try:
        return Explanation(given, str(normalized), (pull_sources(config, normalized),))
    except RewriteError as exc:
        return Explanation(
            given, str(normalized), problem=Problem(exc.kind, "rewrite", exc.message)
        )
