"""Per image: the sources a pull tries before and after the change, and what changed (pure).

Both sides are resolved with the same engine as ``agent explain`` (containers/image's
``PullSourcesFromReference``), against the registries.conf the MCO renders from the
current and from the proposed objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from agent.checklist.compare import rules_of
from agent.errors import AgentError
from agent.plan.model import Change, Hop, ImageOrigin, ImagePlan, Route, RuleChange
from agent.plan.policy import PullPolicy
from agent.reference import ImageReference
from agent.registries.model import Configuration
from agent.registries.resolve import find_entry, pull_sources


def route(config: Configuration, ref: ImageReference, rejected: Optional[str] = None) -> Route:
    """How a pull of ``ref`` (pull-normalised) goes under ``config``; ``rejected``: why
    policy.json rejects it (judged on ``ref`` itself, whatever the mirrors)."""
    try:
        resolution = pull_sources(config, ref)
    except AgentError as exc:  # a rewrite error: the pull fails before any source
        entry = find_entry(config, ref.name)
        return Route(entry.prefix if entry else None, problem=exc.message, rejected=rejected)
    hops = tuple(
        Hop(
            source.location,
            "mirror" if source.kind == "mirror" else "source",
            source.blocked,
            source.insecure,
        )
        for source in resolution.pull_sources
    )
    skipped = tuple((s.location, s.reason) for s in resolution.skipped_mirrors)
    return Route(resolution.matched_prefix, hops, skipped, rejected=rejected)


def _places(route: Route) -> list[tuple[str, str, bool]]:
    return [(hop.location, hop.kind, hop.blocked) for hop in route.hops]


def _why_unresolvable(after: Route) -> str:
    if after.problem:
        return after.problem
    blocked = ", ".join(hop.location for hop in after.hops)
    return f"every source is blocked ({blocked})"


def changes(before: Route, after: Route) -> tuple[Change, ...]:
    """The kinds of change between two routes of one image, most important first."""
    found: list[Change] = []
    if before.resolves and not after.resolves and after.rejected:
        found.append(Change("rejected-by-policy", f"the pull would fail: {after.rejected}"))
    elif before.resolves and not after.resolves:
        found.append(
            Change("no-longer-resolves", f"the pull would fail: {_why_unresolvable(after)}")
        )
    elif after.resolves and not before.resolves:
        found.append(Change("now-resolves", "the pull would work again"))
    # Another entry matching only matters when the pull goes elsewhere.
    if before.entry != after.entry and _places(before) != _places(after):
        found.append(
            Change("entry-changed", f"matched entry {before.entry or '-'} → {after.entry or '-'}")
        )
    tried_before, tried_after = before.mirrors, after.mirrors
    skipped_after = dict(after.skipped)
    skipped_before = dict(before.skipped)
    for index, mirror in enumerate(tried_after):
        if mirror not in tried_before:
            if mirror in skipped_before:
                found.append(
                    Change("no-longer-skipped", f"now tried (position {index + 1})", mirror)
                )
            else:
                found.append(Change("mirror-added", f"added at position {index + 1}", mirror))
    for mirror in tried_before:
        if mirror in tried_after:
            continue
        if mirror in skipped_after:
            found.append(Change("newly-skipped", f"now skipped: {skipped_after[mirror]}", mirror))
        else:
            found.append(Change("mirror-removed", "no longer tried", mirror))
    common_before = [m for m in tried_before if m in tried_after]
    common_after = [m for m in tried_after if m in tried_before]
    if common_before != common_after:
        for mirror in common_after:
            old, new = tried_before.index(mirror) + 1, tried_after.index(mirror) + 1
            if common_before.index(mirror) != common_after.index(mirror):
                found.append(Change("mirror-moved", f"position {old} → {new}", mirror))
    source_before, source_after = before.source, after.source
    if source_before and source_after:
        if source_after.blocked and not source_before.blocked:
            found.append(
                Change("source-blocked", "the source is now blocked", source_after.location)
            )
        elif source_before.blocked and not source_after.blocked:
            found.append(
                Change("source-reachable", "the source is reachable again", source_after.location)
            )
    return tuple(found)


def plan_image(
    given: str,
    ref: ImageReference,
    before: Configuration,
    after: Configuration,
    origin: ImageOrigin,
    policies: tuple[PullPolicy, PullPolicy] = (PullPolicy(), PullPolicy()),
) -> ImagePlan:
    old = route(before, ref, policies[0].rejection(ref.name))
    new = route(after, ref, policies[1].rejection(ref.name))
    return ImagePlan(given, str(ref), old, new, changes(old, new), origin)


def _rules_text(config: Configuration, prefix: str) -> str:
    entry = next((e for e in config.registries if e.prefix == prefix), None)
    if entry is None:
        return "-"
    rules = rules_of(entry)
    text = rules.mirrors_text(False)
    if rules.blocked:
        text += "; source blocked"
    if rules.insecure:
        text += "; insecure"
    return text


def rule_changes(
    before: Configuration, after: Configuration, images: Sequence[ImagePlan]
) -> tuple[RuleChange, ...]:
    """The entries whose mirror rules differ, with the planned images each one matches."""
    prefixes = sorted({e.prefix for e in before.registries} | {e.prefix for e in after.registries})
    found = []
    for prefix in prefixes:
        old, new = _rules_text(before, prefix), _rules_text(after, prefix)
        if old == new:
            continue
        matching = tuple(
            image.image for image in images if prefix in (image.before.entry, image.after.entry)
        )
        found.append(RuleChange(prefix, old, new, matching))
    return tuple(found)
