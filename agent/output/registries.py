"""``agent explain`` and ``agent config``: their JSON documents (and a load error's) and
their tables (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from agent.output.text import aligned, terminal_safe
from agent.schema import EXPLAIN_SCHEMA_VERSION

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.errors import ConfigError
    from agent.registries.model import (
        Configuration,
        Explanation,
        Problem,
        PullSource,
        Resolution,
    )


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
        "schemaVersion": EXPLAIN_SCHEMA_VERSION,
        "configuration": _configuration_json(config),
        "results": [explanation_json(explanation) for explanation in explanations],
    }


def config_json(config: Configuration) -> dict[str, Any]:
    canonical = config.canonical()
    for entry, rendered in zip(config.registries, canonical["registries"]):
        rendered["file"] = entry.origin
    return {
        "schemaVersion": EXPLAIN_SCHEMA_VERSION,
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
        "schemaVersion": EXPLAIN_SCHEMA_VERSION,
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
        lines += aligned(rows)
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
    return terminal_safe("\n".join(lines) + "\n")


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
        lines += aligned(rows, indent="")
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
    return terminal_safe("\n".join(lines) + "\n")
