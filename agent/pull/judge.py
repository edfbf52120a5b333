"""Verdicts and findings from the expected sources and what a pull log shows (pure).

Finding codes are stable (documented in the README). Severity maps onto the verdict:
info → pass, warn → warn, fail → fail, error → error; an image's verdict is its worst.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from agent.pull.log import Attempt, PullLog
from agent.registries.model import Resolution
from agent.report import AttemptRecord, Finding, Probe, worst

SEVERITY_VERDICT = {"info": "pass", "warn": "warn", "fail": "fail", "error": "error"}


def verdict_of(findings: Sequence[Finding]) -> str:
    return worst([SEVERITY_VERDICT[finding.severity] for finding in findings])


@dataclass(frozen=True)
class Judgement:
    verdict: str
    findings: tuple[Finding, ...]
    attempts: tuple[AttemptRecord, ...]
    served_by: Optional[str]
    served_by_kind: Optional[str]


def _describe(attempt: Attempt) -> str:
    return f"{attempt.location} ({attempt.reason or attempt.outcome})"


def judge(
    resolution: Resolution, log: PullLog, *, exit_code: Optional[int], timed_out: bool = False
) -> Judgement:
    """Compare the attempts of the deciding round with the configured order."""
    expected = [source.location for source in resolution.pull_sources]
    kinds = {source.location: source.kind for source in resolution.pull_sources}
    blocked = {source.location for source in resolution.pull_sources if source.blocked}
    records = tuple(
        AttemptRecord(a.location, a.outcome, kinds.get(a.location), a.reason, a.message)
        for a in log.attempts
    )
    tried = [attempt.location for attempt in log.attempts]
    failed = [attempt for attempt in log.attempts if attempt.outcome == "failed"]
    findings: list[Finding] = []

    unexpected = [location for location in tried if location not in kinds]
    if unexpected:
        findings.append(
            Finding(
                "unexpected-source",
                "fail",
                "podman contacted sources the configuration does not name: "
                + ", ".join(unexpected)
                + f" (expected only {', '.join(expected)})",
            )
        )
    elif tried != expected[: len(tried)]:
        findings.append(
            Finding(
                "order-mismatch",
                "fail",
                f"sources were tried in the order {', '.join(tried)}; the configuration "
                f"requires {', '.join(expected)}",
            )
        )

    served = log.served_by
    hung = next((a for a in log.attempts if a.outcome == "hung"), None)
    if hung is not None or (timed_out and served is None):
        where = (
            f"at {hung.location} ({kinds.get(hung.location, 'unexpected source')})"
            if hung
            else "before any source was tried"
        )
        findings.append(
            Finding("timeout", "error", f"the pull did not finish in time: it hung {where}")
        )
    elif served is not None:
        findings.extend(_served_findings(resolution, served, failed))
    else:
        findings.extend(_not_served_findings(resolution, log, failed, blocked, exit_code))

    return Judgement(
        verdict=verdict_of(findings),
        findings=tuple(findings),
        attempts=records,
        served_by=served,
        served_by_kind=kinds.get(served) if served else None,
    )


def _served_findings(resolution: Resolution, served: str, failed: list[Attempt]) -> list[Finding]:
    sources = resolution.pull_sources
    index = next((i for i, source in enumerate(sources) if source.location == served), None)
    if index is None:
        return []  # already reported as an unexpected source
    failures = "; ".join(_describe(attempt) for attempt in failed)
    if sources[index].kind == "mirror":
        if index == 0:
            return [Finding("served-by-mirror", "info", f"served by the first mirror {served}")]
        return [
            Finding(
                "fallback-to-later-mirror",
                "warn",
                f"served by mirror #{index + 1} {served} after earlier mirrors failed: {failures}",
            )
        ]
    if index > 0:
        return [
            Finding(
                "served-by-source",
                "warn",
                f"every mirror failed ({failures}); the source {served} served the image, "
                "which a disconnected node cannot reach",
            )
        ]
    if resolution.skipped_mirrors:
        reasons = sorted({skipped.reason for skipped in resolution.skipped_mirrors})
        return [
            Finding(
                "mirrors-skipped",
                "warn",
                f"{len(resolution.skipped_mirrors)} mirror(s) do not apply to this reference "
                f"({'; '.join(reasons)}): pulled from the source {served}. ICSP and IDMS "
                "mirrors only apply to digests; pull by digest or add an ImageTagMirrorSet",
            )
        ]
    where = (
        f"entry {resolution.entry.prefix!r} has no mirrors"
        if resolution.entry
        else "no registries.conf entry matches it"
    )
    return [Finding("no-mirror-configured", "warn", f"{where}: pulled from the source {served}")]


def _not_served_findings(
    resolution: Resolution,
    log: PullLog,
    failed: list[Attempt],
    blocked: set[str],
    exit_code: Optional[int],
) -> list[Finding]:
    if not log.attempts:
        detail = log.final_error or f"exit code {exit_code}"
        return [
            Finding("check-failed", "error", f"the pull failed before trying any source: {detail}")
        ]
    findings = [
        Finding(
            "not-served",
            "fail",
            "no source served the image: " + "; ".join(_describe(a) for a in log.attempts),
        )
    ]
    last = log.attempts[-1]
    if last.location in blocked and (last.reason == "blocked" or last.outcome == "failed"):
        eligible_mirrors = len(resolution.pull_sources) - 1
        why = (
            "every mirror failed"
            if eligible_mirrors
            else "no mirror applies to this reference"
            + (" (mirrors are digest-only; this is a tag)" if resolution.skipped_mirrors else "")
        )
        findings.append(
            Finding(
                "blocked-source-needed",
                "fail",
                f"{why} and the source {last.location} is blocked (NeverContactSource)",
            )
        )
    return findings


def judge_probes(probes: Sequence[Probe]) -> list[Finding]:
    """Mirrors asked directly: a mirror without the image means fallback would not work."""
    findings = []
    for probe in probes:
        if probe.available:
            continue
        code = (
            "probe-mirror-missing" if probe.reason == "manifest-unknown" else "probe-mirror-failed"
        )
        findings.append(
            Finding(
                code,
                "warn",
                f"mirror {probe.location} cannot serve the image when asked directly "
                f"({probe.reason}: {probe.message})",
            )
        )
    return findings
