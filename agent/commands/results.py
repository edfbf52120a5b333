"""A pull's outcome judged into an :class:`ImageResult`: shared by check, analyze and history."""

from __future__ import annotations

import re
from typing import Optional

from agent.pull.judge import judge, judge_probes, verdict_of
from agent.pull.log.model import PullLog
from agent.pull.log.redact import redact
from agent.registries.model import Resolution
from agent.report import Expected, Finding, ImageResult, Probe
from agent.vocabulary import Severity

#: The line podman and skopeo log before each source they try.
TRYING_TO_ACCESS = re.compile(r'Trying to access \\?"([^"\\]+)')


def error_result(image: str, code: str, message: str, **extra: object) -> ImageResult:
    """An image that could not be pulled or judged at all (``code`` names why)."""
    severity: Severity = "fail" if code == "rewrite-invalid-reference" else "error"
    finding = Finding(code, severity, message)
    return ImageResult(image=image, verdict=verdict_of([finding]), findings=(finding,), **extra)  # type: ignore[arg-type]


def expected_sources(resolution: Resolution) -> tuple[Expected, ...]:
    return tuple(
        Expected(source.location, source.kind, source.insecure, source.blocked)
        for source in resolution.pull_sources
    )


def result_from_log(
    image: str,
    resolution: Resolution,
    log: PullLog,
    *,
    exit_code: Optional[int],
    timed_out: bool,
    duration: Optional[float],
    raw: str,
    probes: tuple[Probe, ...] = (),
    extra_findings: tuple[Finding, ...] = (),
) -> ImageResult:
    """The parsed log of one pull judged against the sources ``resolution`` expects."""
    judgement = judge(resolution, log, exit_code=exit_code, timed_out=timed_out)
    findings = [*judgement.findings, *judge_probes(probes), *extra_findings]
    return ImageResult(
        image=image,
        verdict=verdict_of(findings),
        reference=resolution.reference,
        expected=expected_sources(resolution),
        skipped_mirrors=tuple((s.location, s.reason) for s in resolution.skipped_mirrors),
        attempts=judgement.attempts,
        served_by=judgement.served_by,
        served_by_kind=judgement.served_by_kind,
        findings=tuple(findings),
        probes=probes,
        rounds=log.rounds,
        exit_code=exit_code,
        duration_seconds=None if duration is None else round(duration, 3),
        final_error=log.final_error,
        log=redact(raw),
    )
