"""A node's report for people: ``agent check`` / ``agent analyze`` (its JSON is the report's
own, agent/report.py) and ``agent check --history`` (pure)."""

from __future__ import annotations

from typing import Any

from agent.output.text import aligned, short_digest, terminal_safe
from agent.report import VERDICTS, CheckReport


def check_table(report: CheckReport, *, wide: bool = False, strict: bool = False) -> str:
    """``agent check`` for people: per image the verdict, who served it, the attempts."""
    shorten = (lambda text: text) if wide else short_digest
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
        kind: str = image.served_by_kind or "not configured"  # an unexpected source served it
        served = image.served_by and f"{shorten(image.served_by)} ({kind})"
        lines.append(f"{image.verdict.upper():<5}  {shorten(image.image)}")
        lines.append(f"       served by: {served or 'nothing'}")
        if image.attempts_inferred:
            lines.append("       (attempts read from the error text: the log has no debug lines)")
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
        verdict: sum(1 for i in report.images if i.verdict == verdict) for verdict in VERDICTS
    }
    lines.append("")
    lines.append(
        f"overall: {report.verdict.upper()} ("
        + ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
        + (f", {len(report.not_verified)} not verified" if report.not_verified else "")
        + ")"
    )
    if strict and report.verdict == "warn":
        lines.append("failed by --strict: warnings fail in strict mode (exit 1)")
    return terminal_safe("\n".join(lines) + "\n")


def history_table(entries: list[dict[str, Any]], *, verdict: str = "", strict: bool = False) -> str:
    """``agent check --history``: one line per pull CRI-O made; ``verdict``: the worst
    of them (what the exit code follows)."""
    if not entries:
        return "no pulls in CRI-O's journal for this window\n"
    rows = [["TIME", "VERDICT", "IMAGE", "SERVED BY"]]
    for entry in entries:
        served = (
            entry["servedBy"] and f"{short_digest(entry['servedBy'])} ({entry['servedByKind']})"
        )
        rows.append(
            [
                str(entry["time"] or "-"),
                str(entry["verdict"]),
                short_digest(str(entry["image"])),
                served or "nothing",
            ]
        )
    lines = aligned(rows, indent="")
    if verdict:
        lines += ["", f"overall: {verdict.upper()}"]
    if strict and verdict == "warn":
        lines.append("failed by --strict: warnings fail in strict mode (exit 1)")
    return terminal_safe("\n".join(lines) + "\n")
