"""Turn results into JSON documents and tables for people (pure; no printing here)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Optional

from agent.reference import DIGEST_ALGORITHMS

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.collect import NodeRow, Summary
    from agent.errors import ConfigError
    from agent.registries.model import (
        Configuration,
        Explanation,
        Problem,
        PullSource,
        Resolution,
    )
    from agent.report import CheckReport

SCHEMA_VERSION = 1


def _source_json(source: PullSource) -> dict[str, Any]:
    return {
        "location": source.location,
        "kind": source.kind,
        "insecure": source.insecure,
        "blocked": source.blocked,
        "blockedBy": source.blocked_by,
    }


def _configuration_json(config: Configuration) -> dict[str, Any]:
    return {
        "files": list(config.files),
        "fingerprint": config.fingerprint,
        "behaviour": config.compat.label,
    }


def _problem_json(problem: Optional[Problem]) -> Optional[dict[str, str]]:
    if problem is None:
        return None
    return {"kind": problem.kind, "stage": problem.stage, "message": problem.message}


def _resolution_json(resolution: Resolution) -> dict[str, Any]:
    return {
        "matchedPrefix": resolution.matched_prefix,
        "matchedFile": resolution.entry.origin if resolution.entry else None,
        "pullSources": [_source_json(source) for source in resolution.pull_sources],
        "skippedMirrors": [
            {"location": skipped.location, "reason": skipped.reason}
            for skipped in resolution.skipped_mirrors
        ],
        "error": _problem_json(resolution.problem),
    }


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    first = explanation.resolutions[0] if len(explanation.resolutions) == 1 else None
    problem = explanation.problem
    result: dict[str, Any] = {
        "reference": explanation.given,
        "normalized": explanation.normalized,
        "matchedPrefix": first.matched_prefix if first else None,
        "matchedFile": first.entry.origin if first and first.entry else None,
        "pullSources": [_source_json(source) for source in explanation.pull_sources],
        "skippedMirrors": [
            {"location": skipped.location, "reason": skipped.reason}
            for resolution in explanation.resolutions
            for skipped in resolution.skipped_mirrors
        ],
        "candidates": [
            {
                "reference": candidate.reference,
                "origin": candidate.origin,
                "originFile": candidate.origin_file,
                **(_resolution_json(resolution) if resolution else {}),
            }
            for candidate, resolution in zip(
                explanation.candidates,
                list(explanation.resolutions) + [None] * len(explanation.candidates),
            )
        ],
        "error": _problem_json(problem),
    }
    return result


def explain_json(config: Configuration, explanations: list[Explanation]) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "configuration": _configuration_json(config),
        "results": [explanation_json(explanation) for explanation in explanations],
    }


def config_json(config: Configuration) -> dict[str, Any]:
    canonical = config.canonical()
    for entry, rendered in zip(config.registries, canonical["registries"]):
        rendered["file"] = entry.origin
    return {
        "schemaVersion": SCHEMA_VERSION,
        "configuration": _configuration_json(config),
        "effective": canonical,
        "unqualifiedSearchRegistriesFile": config.unqualified_search_registries_origin,
        "ignoredKeys": [{"file": file, "key": key} for file, key in config.ignored_keys],
        "repeatedKeys": [
            {"file": file, "key": key.key, "line": key.line, "earlierLine": key.earlier_line}
            for file, key in config.repeated_keys
        ],
    }


def load_error_json(error: ConfigError) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "error": {
            "kind": error.kind,
            "stage": "load",
            "message": error.message,
            "file": error.file,
            "line": error.line,
            "column": error.column,
        },
    }


def _flags(source: PullSource) -> str:
    flags = []
    if source.insecure:
        flags.append("insecure")
    if source.blocked:
        flags.append(f"BLOCKED by {source.blocked_by}")
    return ", ".join(flags)


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in rows
    ]


def _files_lines(config: Configuration) -> list[str]:
    files = ", ".join(config.files) if config.files else "(none: built-in defaults)"
    return [f"configuration: {files}", f"fingerprint:   {config.fingerprint}"]


def _resolution_lines(resolution: Resolution) -> list[str]:
    lines = []
    if resolution.entry:
        lines.append(f"  matched:    {resolution.entry.prefix}  ({resolution.entry.origin})")
    else:
        lines.append("  matched:    no [[registry]] entry: the reference is pulled as it is")
    rows = [["#", "KIND", "LOCATION", "FLAGS"]]
    rows += [
        [str(number), source.kind, source.location, _flags(source)]
        for number, source in enumerate(resolution.pull_sources, 1)
    ]
    if resolution.pull_sources:
        lines += _table(rows)
    lines += [
        f"  skipped:    {skipped.location}  ({skipped.reason})"
        for skipped in resolution.skipped_mirrors
    ]
    return lines


def explain_table(config: Configuration, explanations: list[Explanation]) -> str:
    lines = _files_lines(config)
    for explanation in explanations:
        lines.append("")
        lines.append(explanation.given)
        if explanation.normalized and explanation.normalized != explanation.given:
            lines.append(f"  normalized: {explanation.normalized}")
        for candidate, resolution in zip(explanation.candidates, explanation.resolutions):
            lines.append(f"  candidate:  {candidate.reference}  (from {candidate.origin})")
            lines += ["  " + line for line in _resolution_lines(resolution)]
            if resolution.problem and not explanation.problem:
                problem = resolution.problem
                lines.append(f"    candidate fails ({problem.kind}): {problem.message}")
        if not explanation.candidates:
            for resolution in explanation.resolutions:
                lines += _resolution_lines(resolution)
        if explanation.problem:
            lines.append(f"  ERROR ({explanation.problem.kind}): {explanation.problem.message}")
    return "\n".join(lines) + "\n"


def config_table(config: Configuration) -> str:
    lines = _files_lines(config)
    lines.append(f"behaviour:     {config.compat.label}")
    search = ", ".join(config.unqualified_search_registries) or "(none)"
    lines.append(f"unqualified-search-registries: {search}")
    lines.append(f"short-name-mode: {config.short_name_mode}")
    lines.append("")
    if config.registries:
        rows = [["PREFIX", "LOCATION", "FLAGS", "MIRRORS", "FILE"]]
        for entry in config.registries:
            flags = [
                name
                for name, on in (
                    ("insecure", entry.insecure),
                    ("blocked", entry.blocked),
                    ("mirror-by-digest-only", entry.mirror_by_digest_only),
                )
                if on
            ]
            mirrors = [
                mirror.location
                + (f" ({mirror.pull_from_mirror})" if mirror.pull_from_mirror else "")
                + (" (insecure)" if mirror.insecure else "")
                for mirror in entry.mirrors
            ] or ["-"]
            rows.append(
                [
                    entry.prefix,
                    entry.location or "-",
                    ",".join(flags) or "-",
                    mirrors[0],
                    entry.origin,
                ]
            )
            rows += [["", "", "", mirror, ""] for mirror in mirrors[1:]]
        lines += _table(rows, indent="")
    else:
        lines.append("no [[registry]] entries")
    if config.aliases:
        lines.append("")
        lines += [
            f"alias {name} = {alias.value}  ({alias.origin})" for name, alias in config.aliases
        ]
    lines += [
        f"warning: {file}: key {key!r} is not a registries.conf setting and is ignored"
        for file, key in config.ignored_keys
    ]
    lines += [
        f"warning: {file}:{key.line}: key {key.key!r} is set again (first at line "
        f"{key.earlier_line}); podman uses this last value, TOML forbids the repetition"
        for file, key in config.repeated_keys
    ]
    return "\n".join(lines) + "\n"


def error_text(error: Exception, hint: Optional[str]) -> str:
    text = f"error: {error}"
    if hint:
        text += f"\nhint: {hint}"
    return text


_DIGEST_TEXT = re.compile(rf"\b({'|'.join(DIGEST_ALGORITHMS)}):([0-9a-f]+)\b")


def _short_digest(text: str) -> str:
    """Shorten digests (sha256, sha384, sha512) for tables: people compare the first characters."""

    def shorten(match: re.Match[str]) -> str:
        algorithm, encoded = match.groups()
        if len(encoded) != DIGEST_ALGORITHMS[algorithm]:
            return match.group()
        return f"{algorithm}:{encoded[:12]}…"

    return _DIGEST_TEXT.sub(shorten, text)


def check_table(report: CheckReport, *, wide: bool = False) -> str:
    """``agent check`` for people: per image the verdict, who served it, the attempts."""
    shorten = (lambda text: text) if wide else _short_digest
    lines = [
        f"node: {report.node}   checked: {report.checked_at}   "
        f"podman: {report.podman_version or 'unknown'}   method: {report.method} "
        f"({report.storage} storage)",
        f"registries.conf: {report.fingerprint or 'not loaded'}"
        + (f"  ({', '.join(report.registries_files)})" if report.registries_files else ""),
    ]
    for finding in report.findings:
        lines.append(f"{finding.severity.upper()} {finding.code}: {finding.message}")
    for image in report.images:
        lines.append("")
        kind = image.served_by_kind or "not configured"  # an unexpected source served it
        served = image.served_by and f"{shorten(image.served_by)} ({kind})"
        lines.append(f"{image.verdict.upper():<5}  {shorten(image.image)}")
        lines.append(f"       served by: {served or 'nothing'}")
        for number, attempt in enumerate(image.attempts, 1):
            detail = attempt.outcome if attempt.outcome != "failed" else f"failed: {attempt.reason}"
            kind = attempt.kind or "NOT CONFIGURED"
            lines.append(f"       {number}. {kind:<6} {shorten(attempt.location)}  {detail}")
            if wide and attempt.message:
                lines.append(f"            {attempt.message}")
        for location, reason in image.skipped_mirrors:
            lines.append(f"       skipped {shorten(location)}  ({reason})")
        for probe in image.probes:
            state = "holds it" if probe.available else f"cannot serve it: {probe.reason}"
            lines.append(f"       probe   {shorten(probe.location)}  {state}")
        for finding in image.findings:
            lines.append(f"       {finding.code}: {shorten(finding.message)}")
        if wide and image.final_error:
            lines.append("       final error: " + image.final_error.replace("\n", "\n         "))
    for item in report.not_verified:
        lines.append("")
        lines.append(f"NOT VERIFIED  {item.prefix}: {item.reason}")
    counts = {
        verdict: sum(1 for i in report.images if i.verdict == verdict)
        for verdict in ("pass", "warn", "fail", "error")
    }
    lines.append("")
    lines.append(
        f"overall: {report.verdict.upper()} ("
        + ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
        + (f", {len(report.not_verified)} not verified" if report.not_verified else "")
        + ")"
    )
    return "\n".join(lines) + "\n"


def history_table(entries: list[dict[str, Any]]) -> str:
    """``agent check --history``: one line per pull CRI-O made."""
    if not entries:
        return "no pulls in CRI-O's journal for this window\n"
    rows = [["TIME", "VERDICT", "IMAGE", "SERVED BY"]]
    for entry in entries:
        served = (
            entry["servedBy"] and f"{_short_digest(entry['servedBy'])} ({entry['servedByKind']})"
        )
        rows.append(
            [
                str(entry["time"] or "-"),
                str(entry["verdict"]),
                _short_digest(str(entry["image"])),
                served or "nothing",
            ]
        )
    return "\n".join(_table(rows, indent="")) + "\n"


# --- agent collect -------------------------------------------------------------------------


def _node_state(row: NodeRow) -> str:
    if row.status in ("missing", "orphaned"):
        return row.status.upper()
    state = (row.verdict or "?").upper()
    if row.status == "stale":
        state += " (stale)"
    if row.drift:
        state += " (drift)"
    return state


def _served_text(row: NodeRow) -> str:
    return ", ".join(_short_digest(served or "nothing") for _, served, _, _ in row.served) or "-"


def collect_table(summary: Summary, *, wide: bool = False) -> str:
    counts = summary.counts
    lines = [
        f"nodes: {counts['expected']} expected, {counts['reported']} reported — "
        f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
        f"{counts['error']} error, {counts['missing']} missing, {counts['stale']} stale, "
        f"{counts['orphaned']} orphaned, {counts['drift']} drift",
        "",
    ]
    rows = [["NODE", "STATE", "POOL", "CHECKED", "SERVED BY"]]
    for row in summary.nodes:
        rows.append(
            [row.node, _node_state(row), row.pool or "-", row.checked_at or "-", _served_text(row)]
        )
    lines += _table(rows, indent="")
    for row in summary.nodes:
        notes = list(row.findings if wide else row.findings[:3])
        if row.stale_reason:
            notes.insert(0, f"stale: {row.stale_reason}")
        if row.drift:
            notes.insert(
                0,
                f"drift: registries.conf fingerprint {row.fingerprint} differs "
                + (f"in pool {row.pool}" if row.pool else "from the other nodes (pools unknown)"),
            )
        if notes:
            lines.append("")
            lines.append(f"{row.node}:")
            lines += [f"  {_short_digest(note)}" for note in notes]
    if summary.images:
        lines.append("")
        image_rows = [["IMAGE", "NODES", "SERVED BY"]]
        for image in summary.images:
            served = ", ".join(
                f"{_short_digest(location)} x{count}"
                for location, count in image["servedBy"].items()
            )
            image_rows.append([_short_digest(image["image"]), str(image["nodes"]), served])
        lines += _table(image_rows, indent="")
    lines.append("")
    lines.append("overall: " + ("OK" if summary.ok else "NOT OK"))
    return "\n".join(lines) + "\n"


def write_collect_json(summary: Summary, out: Any) -> None:
    """The JSON document written node by node: 5,000 nodes never sit in memory twice."""
    head = json.dumps(summary.to_json(nodes=False), indent=2)[:-2]  # without the closing brace
    out.write(head + ',\n  "nodes": [')
    for number, row in enumerate(summary.nodes):
        text = json.dumps(row.to_json(), indent=2).replace("\n", "\n    ")
        out.write(("," if number else "") + "\n    " + text)
    out.write("\n  ]\n}\n")


def collect_markdown(summary: Summary) -> str:
    counts = summary.counts
    lines = [
        "### mirror-agent: registry mirror verification",
        "",
        "| expected | reported | pass | warn | fail | error | missing | stale | orphaned | drift |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| "
        + " | ".join(
            str(counts[key])
            for key in (
                "expected",
                "reported",
                "pass",
                "warn",
                "fail",
                "error",
                "missing",
                "stale",
                "orphaned",
                "drift",
            )
        )
        + " |",
        "",
        "| node | state | pool | checked | served by |",
        "|---|---|---|---|---|",
    ]
    for row in summary.nodes:
        cells = [
            row.node,
            _node_state(row),
            row.pool or "-",
            row.checked_at or "-",
            _served_text(row),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines.append("")
    lines.append("**Overall: " + ("OK" if summary.ok else "NOT OK") + "**")
    return "\n".join(lines) + "\n"


def collect_junit(summary: Summary) -> str:
    """One test case per node: failures for fail/error/missing/stale/drift; an orphaned
    report (its node is gone) is a skipped case, as it does not change the exit code."""
    from xml.sax.saxutils import escape, quoteattr

    cases = []
    failures = skipped = 0
    for row in summary.nodes:
        problem = None
        if row.status in ("missing", "stale"):
            problem = f"{row.status}" + (f": {row.stale_reason}" if row.stale_reason else "")
        elif row.status != "orphaned" and row.verdict in ("fail", "error"):
            problem = f"verdict {row.verdict}"
        elif row.drift:
            problem = f"registries.conf differs from its pool ({row.fingerprint})"
        body = ""
        if row.status == "orphaned":
            skipped += 1
            body = '<skipped message="orphaned report: its node no longer exists"/>'
        elif problem:
            failures += 1
            detail = escape("\n".join(row.findings))
            body = f"<failure message={quoteattr(problem)}>{detail}</failure>"
        elif row.verdict == "warn":
            body = f"<system-out>{escape(chr(10).join(row.findings))}</system-out>"
        name = quoteattr(row.node)
        cases.append(f'  <testcase classname="mirror-agent.nodes" name={name}>{body}</testcase>')
    header = (
        f'<testsuite name="mirror-agent" tests="{len(summary.nodes)}" failures="{failures}" '
        f'errors="0" skipped="{skipped}">'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + "\n".join([header, *cases, "</testsuite>"])
        + "\n"
    )
