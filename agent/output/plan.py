"""``agent plan``: the plan as a table, markdown (change tickets) and JSON (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from agent.output.text import aligned, short_digest, terminal_safe
from agent.schema import PLAN_SCHEMA_VERSION

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.plan.model import ImagePlan, Plan, Route

_CHANGE_LABELS = {
    "no-longer-resolves": "NO LONGER RESOLVES",
    "rejected-by-policy": "REJECTED BY POLICY",
    "now-resolves": "resolves again",
    "entry-changed": "entry changed",
    "mirror-added": "+ mirror",
    "mirror-removed": "- mirror",
    "mirror-moved": "~ mirror moved",
    "newly-skipped": "- mirror skipped",
    "no-longer-skipped": "+ mirror no longer skipped",
    "source-blocked": "source blocked",
    "source-reachable": "source reachable",
}


def _host(location: str) -> str:
    return location.split("/", 1)[0]


def _repository(location: str) -> str:
    """``host/path`` of a pull location (no digest, no tag)."""
    name = location.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    if ":" in last and head:
        name = f"{head}/{last.split(':', 1)[0]}"
    return name


def _root(location: str, image: ImagePlan) -> str:
    """The mirror (or source) scope a location of ``image`` comes from: its repository
    without the part of the image's name below the matched entry, so that every image of
    one entry names the same place."""
    repository = _repository(location)
    name = _repository(image.reference)
    for entry in (image.after.entry, image.before.entry):
        if entry and not entry.startswith("*") and name.startswith(entry):
            below = name[len(entry) :]
            if below and repository.endswith(below):
                return repository[: -len(below)]
    return repository


ChangeLine = tuple[str, str, str]  # (label, where, detail)


def _generic_changes(image: ImagePlan) -> tuple[ChangeLine, ...]:
    return tuple(
        (
            _CHANGE_LABELS[change.kind],
            _root(change.location, image) if change.location else "",
            change.detail,
        )
        for change in image.changes
    )


@dataclass(frozen=True)
class ImageGroup:
    """Images whose routes change the same way (same entries, same changes per scope)."""

    entries: tuple[Optional[str], Optional[str]]  # matched entry before, after
    changes: tuple[ChangeLine, ...]
    images: tuple[ImagePlan, ...]


def group_images(plan: Plan) -> tuple[list[ImagePlan], list[ImageGroup]]:
    """(images shown one by one: breaking, a probe found missing or could not confirm, or
    alone in their group; groups of several images with identical changes)."""
    probed = {probe.image for probe in plan.failed_probes}
    single: list[ImagePlan] = []
    groups: dict[tuple[Any, ...], list[ImagePlan]] = {}
    for image in plan.images:
        if not image.changes:
            continue
        if image.breaking or image.image in probed:
            single.append(image)
            continue
        key = (image.before.entry, image.after.entry, _generic_changes(image))
        groups.setdefault(key, []).append(image)
    grouped = []
    for (before, after, changes), members in groups.items():
        if len(members) == 1:
            single.append(members[0])
        else:
            grouped.append(ImageGroup((before, after), changes, tuple(members)))
    order = {image.image: index for index, image in enumerate(plan.images)}
    single.sort(key=lambda image: order[image.image])
    return single, grouped


def _change_text(label: str, where: str, detail: str) -> str:
    return f"{label}{' ' + short_digest(where) if where else ''}: {detail}"


def cell(text: str) -> str:
    """Text for a markdown table cell: a '|' would end the cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def unexercised_hint(prefix: str) -> str:
    """What to do about a changed entry no planned image matches."""
    example = f"an image under {prefix}" if prefix.startswith("*") else f"{prefix}/…@sha256:…"
    return f"not exercised: no planned image matches this entry; give one with --image {example}"


def _route_text(route: Route) -> str:
    if route.rejected:
        return "rejected by policy.json"
    if route.problem:
        return f"fails: {route.problem}"
    hops = []
    for hop in route.hops:
        text = short_digest(hop.location)
        if hop.blocked:
            text += " (blocked)"
        hops.append(text)
    return " → ".join(hops) or "-"


def verdict_lines(plan: Plan) -> list[str]:
    """The outcome, in the words of the exit code."""
    lines = []
    errors = [p for p in plan.problems if p.severity == "error"]
    if errors:
        lines.append(
            f"INVALID: {len(errors)} problem(s) the API server or the MCO would refuse; "
            "fix the objects before applying them"
        )
    if plan.breaking:
        rejected = sum(1 for image in plan.breaking if image.after.rejected)
        lines.append(
            f"BREAKS PULLS: {len(plan.breaking)} of {len(plan.images)} images would no longer "
            "resolve" + (f" ({rejected} rejected by policy.json)" if rejected else "")
        )
    failed = plan.failed_probes
    if failed:
        probed: dict[str, set[str]] = {}
        lacking: dict[str, set[str]] = {}
        for probe in plan.probes:
            probed.setdefault(_host(probe.location), set()).add(probe.image)
            if probe.outcome != "present":
                lacking.setdefault(_host(probe.location), set()).add(probe.image)
        for host, images in sorted(lacking.items()):
            lines.append(
                f"PROBE: the new mirror {host} lacks (or could not confirm) {len(images)} of "
                f"{len(probed[host])} images"
            )
    if not lines:
        changed = sum(1 for image in plan.images if image.changes)
        lines.append(
            f"OK: no change breaks a pull ({changed} of {len(plan.images)} images change route)"
        )
    return lines


def plan_table(plan: Plan) -> str:
    origin = "the cluster" if plan.mode == "cluster" else "the node's registries.conf"
    lines = [
        f"agent plan: OCP {plan.version_text} (from {plan.version_from}); current state from "
        f"{origin}",
        "",
    ]
    if plan.actions:
        lines.append("objects (as oc apply -f / oc delete would change them):")
        lines += aligned([[a.label, a.action, a.origin] for a in plan.actions], indent="  ")
        lines.append("")
    if plan.problems:
        lines.append("problems:")
        for problem in plan.problems:
            lines.append(f"  {problem.severity.upper():8} {problem.text()}")
        lines.append("")
    if plan.rules:
        lines.append("registries.conf entries that change:")
        for rule in plan.rules:
            lines.append(f"  {rule.prefix}")
            lines.append(f"    before: {rule.before}")
            lines.append(f"    after:  {rule.after}")
            if not rule.images:
                lines.append(f"    {unexercised_hint(rule.prefix)}")
        lines.append("")
    changed = [image for image in plan.images if image.changes]
    lines.append(
        f"images: {len(plan.images)} planned, {len(changed)} change route, "
        f"{len(plan.breaking)} no longer resolve"
    )
    single, groups = group_images(plan)
    for image in single:
        lines.append(f"  {short_digest(image.image)}")
        lines.append(f"    before: {_route_text(image.before)}")
        lines.append(f"    after:  {_route_text(image.after)}")
        for change in image.changes:
            where = f" {short_digest(change.location)}" if change.location else ""
            lines.append(f"    {_CHANGE_LABELS[change.kind]}{where}: {change.detail}")
    for group in groups:
        before, after = group.entries
        lines.append(
            f"  {len(group.images)} images, entry {before or '-'} → {after or '-'}, "
            "each changing the same way:"
        )
        lines += [f"    {_change_text(*change)}" for change in group.changes]
        lines += [f"      {short_digest(image.image)}" for image in group.images]
    unchanged = len(plan.images) - len(changed)
    if unchanged:
        lines.append(f"  ({unchanged} image(s) keep their route)")
    lines.append("")
    if plan.probes or plan.not_probed:
        lines.append("probes (the new mirrors, asked directly for each image's digest):")
        for probe in plan.probes:
            text = f"  {probe.outcome.upper():8} {short_digest(probe.location)}"
            if probe.message:
                text += f": {probe.message}"
            lines.append(text)
        for skipped, why in plan.not_probed:
            lines.append(f"  {'SKIPPED':8} {short_digest(skipped)}: {why}")
        lines.append("")
    if plan.notes:
        lines.append("notes:")
        lines += [f"  {note}" for note in plan.notes]
        lines.append("")
    lines += verdict_lines(plan)
    return terminal_safe("\n".join(lines) + "\n")


def plan_markdown(plan: Plan) -> str:
    lines = [f"## agent plan (OCP {plan.version_text})", ""]
    lines += [f"**{line}**" for line in verdict_lines(plan)]
    lines.append("")
    if plan.actions:
        lines += ["| Object | Action | From |", "|---|---|---|"]
        lines += [f"| `{a.label}` | {a.action} | {cell(a.origin)} |" for a in plan.actions]
        lines.append("")
    if plan.problems:
        lines += [
            "| Severity | Object | Field | Rule | Problem | Effect |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {p.severity} | `{p.object}` | `{p.field}` | {p.rule} | {cell(p.message)} | "
            f"{p.effect or ('refused' if p.severity == 'error' else '')} |"
            for p in plan.problems
        ]
        lines.append("")
    if plan.rules:
        lines += ["| Entry | Before | After | Planned images |", "|---|---|---|---|"]
        lines += [
            f"| `{r.prefix}` | {cell(r.before)} | {cell(r.after)} | "
            f"{len(r.images) if r.images else unexercised_hint(r.prefix)} |"
            for r in plan.rules
        ]
        lines.append("")
    single, groups = group_images(plan)
    if single:
        lines += ["| Image | Before | After | Changes |", "|---|---|---|---|"]
        for image in single:
            kinds = ", ".join(_CHANGE_LABELS[c.kind] for c in image.changes)
            lines.append(
                f"| `{short_digest(image.image)}` | {cell(_route_text(image.before))} | "
                f"{cell(_route_text(image.after))} | {cell(kinds)} |"
            )
        lines.append("")
    if groups:
        lines += ["| Images | Entry | Changes (the same for each) |", "|---|---|---|"]
        for group in groups:
            names = "<br>".join(f"`{short_digest(image.image)}`" for image in group.images)
            before, after = group.entries
            changes = "<br>".join(cell(_change_text(*change)) for change in group.changes)
            lines.append(
                f"| {len(group.images)} images:<br>{names} | "
                f"`{before or '-'}` → `{after or '-'}` | {changes} |"
            )
        lines.append("")
    if plan.probes:
        lines += ["| Probe | Mirror | Message |", "|---|---|---|"]
        lines += [
            f"| {p.outcome} | `{short_digest(p.location)}` | {cell(p.message or '')} |"
            for p in plan.probes
        ]
        lines.append("")
    return terminal_safe("\n".join(lines))


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "schemaVersion": PLAN_SCHEMA_VERSION,
        "ocpVersion": plan.version_text,
        "ocpVersionFrom": plan.version_from,
        "mode": plan.mode,
        "valid": not plan.invalid,
        "breaking": len(plan.breaking),
        "objects": [action.to_json() for action in plan.actions],
        "problems": [problem.to_json() for problem in plan.problems],
        "rules": [rule.to_json() for rule in plan.rules],
        "unexercisedEntries": list(plan.unexercised),
        "images": [image.to_json() for image in plan.images],
        "probes": [probe.to_json() for probe in plan.probes],
        "notProbed": [{"image": image, "reason": why} for image, why in plan.not_probed],
        "notes": list(plan.notes),
    }
