"""``agent plan``: the plan as a table, markdown (change tickets) and JSON (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.output.text import aligned, short_digest, terminal_safe
from agent.schema import PLAN_SCHEMA_VERSION

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.plan.model import Plan, Route

_CHANGE_LABELS = {
    "no-longer-resolves": "NO LONGER RESOLVES",
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


def _route_text(route: Route) -> str:
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
        lines.append(
            f"BREAKS PULLS: {len(plan.breaking)} of {len(plan.images)} images would no longer "
            "resolve"
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
                lines.append("    no planned image matches this entry: give one with --image")
        lines.append("")
    changed = [image for image in plan.images if image.changes]
    lines.append(
        f"images: {len(plan.images)} planned, {len(changed)} change route, "
        f"{len(plan.breaking)} no longer resolve"
    )
    for image in changed:
        lines.append(f"  {short_digest(image.image)}")
        lines.append(f"    before: {_route_text(image.before)}")
        lines.append(f"    after:  {_route_text(image.after)}")
        for change in image.changes:
            where = f" {short_digest(change.location)}" if change.location else ""
            lines.append(f"    {_CHANGE_LABELS[change.kind]}{where}: {change.detail}")
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
        lines += [f"| `{a.label}` | {a.action} | {a.origin} |" for a in plan.actions]
        lines.append("")
    if plan.problems:
        lines += ["| Severity | Object | Field | Rule | Problem |", "|---|---|---|---|---|"]
        lines += [
            f"| {p.severity} | `{p.object}` | `{p.field}` | {p.rule} | {p.message} |"
            for p in plan.problems
        ]
        lines.append("")
    if plan.rules:
        lines += ["| Entry | Before | After |", "|---|---|---|"]
        lines += [f"| `{r.prefix}` | {r.before} | {r.after} |" for r in plan.rules]
        lines.append("")
    changed = [image for image in plan.images if image.changes]
    if changed:
        lines += ["| Image | Before | After | Changes |", "|---|---|---|---|"]
        for image in changed:
            kinds = ", ".join(_CHANGE_LABELS[c.kind] for c in image.changes)
            lines.append(
                f"| `{short_digest(image.image)}` | {_route_text(image.before)} | "
                f"{_route_text(image.after)} | {kinds} |"
            )
        lines.append("")
    if plan.probes:
        lines += ["| Probe | Mirror | Message |", "|---|---|---|"]
        lines += [
            f"| {p.outcome} | `{short_digest(p.location)}` | {p.message or ''} |"
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
