"""A pull's outcome judged into an :class:`ImageResult`: shared by check, analyze and history."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Optional

from agent.pull.judge import judge, judge_probes, verdict_of
from agent.pull.log.digests import reference_digest
from agent.pull.log.model import PullLog
from agent.pull.log.redact import redact, trimmed
from agent.registries.model import Resolution
from agent.report import CheckReport, Expected, Finding, ImageResult, Probe
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
    served_digest: Optional[str] = None,
) -> ImageResult:
    """The parsed log of one pull judged against the sources ``resolution`` expects;
    ``served_digest``: the digest of the manifest received, when the caller knows it."""
    judgement = judge(
        resolution, log, exit_code=exit_code, timed_out=timed_out, served_digest=served_digest
    )
    probed = judge_probes(probes, reference_digest(resolution.reference))
    findings = [*judgement.findings, *probed, *extra_findings]
    return ImageResult(
        image=image,
        verdict=verdict_of(findings),
        reference=resolution.reference,
        expected=expected_sources(resolution),
        skipped_mirrors=tuple((s.location, s.reason) for s in resolution.skipped_mirrors),
        attempts=judgement.attempts,
        served_by=judgement.served_by,
        served_by_kind=judgement.served_by_kind,
        served_digest=judgement.served_digest,
        findings=tuple(findings),
        probes=probes,
        rounds=log.rounds,
        exit_code=exit_code,
        duration_seconds=None if duration is None else round(duration, 3),
        final_error=log.final_error,
        log=redact(raw),
    )


#: Error texts copied into reports (a registry's error body can be a page of HTML).
MESSAGE_LIMIT = 2000
FINAL_ERROR_LIMIT = 4000


def secure_report(report: CheckReport, redact_text: Callable[[str], str]) -> CheckReport:
    """``report`` with ``redact_text`` (the node's :class:`~agent.pull.log.redact.Redactor`)
    applied to every text that came from outside (messages, errors, the log) and error
    texts trimmed. Called where a report is made to be shown or published."""

    def clean(text: Optional[str], limit: Optional[int] = MESSAGE_LIMIT) -> Optional[str]:
        if text is None:
            return None
        text = redact_text(text)
        return text if limit is None else trimmed(text, limit)

    def findings(items: tuple[Finding, ...]) -> tuple[Finding, ...]:
        return tuple(replace(f, message=clean(f.message) or "") for f in items)

    images = tuple(
        replace(
            image,
            findings=findings(image.findings),
            attempts=tuple(replace(a, message=clean(a.message)) for a in image.attempts),
            probes=tuple(replace(p, message=clean(p.message)) for p in image.probes),
            final_error=clean(image.final_error, FINAL_ERROR_LIMIT),
            log=clean(image.log, None),
        )
        for image in report.images
    )
    config_error = report.config_error
    if config_error and isinstance(config_error.get("message"), str):
        config_error = {**config_error, "message": clean(config_error["message"])}
    return replace(
        report, images=images, findings=findings(report.findings), config_error=config_error
    )
