"""Verdicts and findings from the expected sources and what a pull log shows (pure).

Finding codes are stable (documented in the README). Severity maps onto the verdict:
info → pass, warn → warn, fail → fail, error → error; an image's verdict is its worst.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Optional

from agent.pull.log.classify import retry_after
from agent.pull.log.digests import is_digest_mismatch, reference_digest
from agent.pull.log.model import Attempt, PullLog
from agent.registries.model import Resolution
from agent.report import AttemptRecord, Finding, Probe, worst
from agent.vocabulary import Severity, SourceKind, Verdict

SEVERITY_VERDICT: dict[Severity, Verdict] = {
    "info": "pass",
    "warn": "warn",
    "fail": "fail",
    "error": "error",
}


def verdict_of(findings: Sequence[Finding]) -> Verdict:
    return worst([SEVERITY_VERDICT[finding.severity] for finding in findings])


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    findings: tuple[Finding, ...]
    attempts: tuple[AttemptRecord, ...]
    served_by: Optional[str]
    served_by_kind: Optional[SourceKind]
    served_digest: Optional[str] = None  # the manifest's digest, when known


def _describe(attempt: Attempt) -> str:
    reason = attempt.reason or attempt.outcome
    wait = retry_after(attempt.message or "") if attempt.reason == "rate-limited" else None
    return f"{attempt.location} ({reason}{f', retry after {wait}' if wait else ''})"


# What a reader should know about some reasons, said once per finding.
_REASON_HINTS = {
    "not-a-registry": "{where} answered the registry ping (/v2/) with 404: the endpoint is not "
    "a container registry (a repository manager without its Docker/OCI connector, a wrong "
    "port or path); no manifest was asked for",
    "rate-limited": "{where} refused with 429 Too Many Requests (rate limit): authenticate "
    "(pull secret) or pull through a mirror",
    "digest-mismatch": "{where} served a manifest whose digest is not the reference's: the "
    "mirror holds other content (re-mirror the image)",
    "unknown": "the log does not show why {where} failed (the text is cut, or no reason is given)",
}


def _hints(attempts: Sequence[Attempt]) -> str:
    notes = []
    for reason, template in _REASON_HINTS.items():
        where = [a.location for a in attempts if a.outcome == "failed" and a.reason == reason]
        if where:
            notes.append(template.format(where=", ".join(where)))
    return "".join(f". {note}" for note in notes)


def _inferred_note(log: PullLog) -> str:
    if not log.attempts_inferred:
        return ""
    return " (attempts read from the error text: the log has no debug lines)"


def _digest_checked(
    log: PullLog, wanted: Optional[str], served_digest: Optional[str]
) -> tuple[PullLog, Optional[Finding]]:
    """A source that served a manifest whose digest is not the reference's did not serve
    the image: its attempt becomes a failure (``digest-mismatch``), and nothing served.
    containers/image stops there (no fallback), so the pull fails."""
    served = log.served_by
    if served is None:
        return log, None
    mismatch = is_digest_mismatch(log.final_error) or (
        wanted is not None and served_digest is not None and served_digest != wanted
    )
    if not mismatch:
        return log, None
    what = f"a manifest with digest {served_digest}" if served_digest else "another manifest"
    message = f"served {what}, not {wanted}"
    attempts = tuple(
        replace(a, outcome="failed", reason="digest-mismatch", message=message)
        if a.location == served and a.outcome == "served"
        else a
        for a in log.attempts
    )
    finding = Finding(
        "digest-mismatch",
        "fail",
        f"{served} {message}: the mirror holds other content than the reference names",
    )
    return replace(log, attempts=attempts, served_by=None), finding


def judge(
    resolution: Resolution,
    log: PullLog,
    *,
    exit_code: Optional[int],
    timed_out: bool = False,
    served_digest: Optional[str] = None,
) -> Judgement:
    """Compare the attempts of the deciding round with the configured order.

    ``served_digest`` is the digest of the manifest received, when the caller knows it
    (skopeo's raw manifest, podman's stored image); a served manifest whose digest is not
    the reference's is a failed attempt, not a served image.
    """
    wanted = reference_digest(resolution.reference)
    log, mismatch = _digest_checked(log, wanted, served_digest)
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
                f"{_tool_name(log)} contacted sources the configuration does not name: "
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
        if exit_code and not timed_out and not _tag_listing_failed(log):  # non-zero, known
            # The parser marks the last attempt "served" when the tool's final error is not
            # a resolution error: resolution worked, but the pull itself (a blob, the
            # signature policy, storage) failed, and CRI-O would fail it the same way.
            findings.append(_failed_after_resolution(log, served, kinds, exit_code))
    else:
        if mismatch is not None:
            findings.append(mismatch)
        findings.extend(_not_served_findings(resolution, log, failed, blocked, exit_code))

    return Judgement(
        verdict=verdict_of(findings),
        findings=tuple(findings),
        attempts=records,
        served_by=served,
        served_by_kind=kinds.get(served) if served else None,
        served_digest=(served_digest or wanted) if served else None,
    )


def _tool_name(log: PullLog) -> str:
    return {"crio": "CRI-O", "skopeo": "skopeo"}.get(log.tool, "podman")


def _tag_listing_failed(log: PullLog) -> bool:
    """Plain ``skopeo inspect`` failed listing the source's tags after the manifest came.

    An artifact of that command (it lists tags of the logical repository, never through
    mirrors), not of the pull: CRI-O and ``skopeo inspect --raw`` never list tags.
    """
    return log.tool == "skopeo" and "determining repository tags" in (log.final_error or "").lower()


def _failed_after_resolution(
    log: PullLog, served: str, kinds: Mapping[str, SourceKind], exit_code: int
) -> Finding:
    tool = log.tool if log.tool in ("podman", "skopeo") else "the tool"
    error = log.final_error or "no final error in the log"
    return Finding(
        "pull-failed-after-resolution",
        "fail",
        f"{served} ({kinds.get(served, 'unexpected source')}) served the manifest, but the "
        f"pull failed afterwards (exit code {exit_code}); {tool}'s final error: {error}",
    )


def _served_findings(resolution: Resolution, served: str, failed: list[Attempt]) -> list[Finding]:
    sources = resolution.pull_sources
    index = next((i for i, source in enumerate(sources) if source.location == served), None)
    if index is None:
        return []  # already reported as an unexpected source
    # CRI-O logs a failed attempt only at debug level: its info journal shows none
    failures = "; ".join(_describe(attempt) for attempt in failed) or (
        "the log does not say why (CRI-O logs failed attempts at debug level only)"
    )
    if sources[index].kind == "mirror":
        if index == 0:
            return [Finding("served-by-mirror", "info", f"served by the first mirror {served}")]
        return [
            Finding(
                "fallback-to-later-mirror",
                "warn",
                f"served by mirror #{index + 1} {served} after earlier mirrors failed: {failures}"
                + _hints(failed),
            )
        ]
    if index > 0:
        return [
            Finding(
                "served-by-source",
                "warn",
                f"every mirror failed ({failures}); the source {served} served the image, "
                "which a disconnected node cannot reach" + _hints(failed),
            )
        ]
    if resolution.skipped_mirrors:
        return [
            Finding(
                "mirrors-skipped",
                "warn",
                f"{len(resolution.skipped_mirrors)} mirror(s) do not apply to this reference "
                f"({_skip_reasons(resolution)}): pulled from the source {served}. "
                + _skip_advice(resolution),
            )
        ]
    where = (
        f"entry {resolution.entry.prefix!r} has no mirrors"
        if resolution.entry
        else "no registries.conf entry matches it"
    )
    return [Finding("no-mirror-configured", "warn", f"{where}: pulled from the source {served}")]


def _skip_reasons(resolution: Resolution) -> str:
    """Why mirrors were left out, as resolve.py states it (e.g. tag-only and a digest)."""
    return "; ".join(sorted({skipped.reason for skipped in resolution.skipped_mirrors}))


def _skip_advice(resolution: Resolution) -> str:
    # Skipping depends only on whether the reference has a digest (resolve._skip_reason).
    if "@" in resolution.reference:
        return (
            "ImageTagMirrorSet (tag-only) mirrors only apply to tags; pull by tag or add an "
            "ImageDigestMirrorSet"
        )
    return "ICSP and IDMS mirrors only apply to digests; pull by digest or add an ImageTagMirrorSet"


def _not_served_findings(
    resolution: Resolution,
    log: PullLog,
    failed: list[Attempt],
    blocked: set[str],
    exit_code: Optional[int],
) -> list[Finding]:
    if not log.attempts:
        return [_no_attempt_finding(log, exit_code)]
    last_attempt = log.attempts[-1]
    if log.retry_pending and exit_code is None:
        return [
            Finding(
                "outcome-unknown",
                "error",
                f"the log ends after {_tool_name(log)}'s retry warning (round {log.rounds} "
                "ended), before the next round shows anything: the pull went on and its result "
                "is not shown. The last round shown: "
                + "; ".join(_describe(a) for a in log.attempts)
                + _inferred_note(log)
                + _hints(log.attempts),
            )
        ]
    if last_attempt.outcome == "unfinished" and exit_code is None and log.final_error is None:
        return [
            Finding(
                "outcome-unknown",
                "error",
                "the log ends before it shows how the pull ended: no result after "
                f"{last_attempt.location} (no manifest read, no final error, no exit status)"
                + _hints(log.attempts),
            )
        ]
    findings = [
        Finding(
            "not-served",
            "fail",
            "no source served the image: "
            + "; ".join(_describe(a) for a in log.attempts)
            + _inferred_note(log)
            + _hints(log.attempts),
        )
    ]
    last = log.attempts[-1]
    if last.location in blocked and (last.reason == "blocked" or last.outcome == "failed"):
        eligible_mirrors = len(resolution.pull_sources) - 1
        why = (
            "every mirror failed"
            if eligible_mirrors
            else "no mirror applies to this reference"
            + (f" ({_skip_reasons(resolution)})" if resolution.skipped_mirrors else "")
        )
        findings.append(
            Finding(
                "blocked-source-needed",
                "fail",
                f"{why} and the source {last.location} is blocked (NeverContactSource)",
            )
        )
    return findings


def _no_attempt_finding(log: PullLog, exit_code: Optional[int]) -> Finding:
    """No attempt shown (and none named by the error text): say only what the log shows."""
    if log.manifest_read and log.final_error is not None:
        return Finding(
            "pull-failed-after-resolution",
            "fail",
            "a source served the manifest (the log has no debug lines to say which), but the "
            f"pull failed afterwards: {log.final_error}",
        )
    if log.completed or (log.manifest_read and exit_code == 0):
        return Finding(
            "source-not-shown",
            "warn",
            "the pull succeeded, but the log has no debug lines to show which source served "
            "it (capture with --log-level=debug, or use agent check)",
        )
    if log.manifest_read and log.final_error is None and exit_code is None:
        return Finding(
            "outcome-unknown",
            "error",
            "a source served the manifest (the log has no debug lines to say which); the end "
            "of the pull is not shown",
        )
    if log.final_error is None and exit_code is None:
        what = f"the pull of {log.image}" if log.image else "a pull"
        return Finding(
            "outcome-unknown",
            "error",
            f"the log shows {what} start, but no attempt on a source and no result",
        )
    detail = log.final_error or f"exit code {exit_code}"
    return Finding(
        "check-failed", "error", f"the pull failed before the log shows any source: {detail}"
    )


def _differing_probes(probes: Sequence[Probe], wanted: Optional[str]) -> list[Finding]:
    """Mirrors whose manifest (skopeo's raw bytes, hashed) is not the reference's digest,
    or, for a tag, mirrors that do not all answer with the same manifest."""
    answered = [probe for probe in probes if probe.available and probe.digest]
    if wanted is not None:
        return [
            Finding(
                "probe-mirror-differs",
                "warn",
                f"mirror {probe.location} answers with manifest {probe.digest}, not {wanted}, "
                "when asked directly: it holds other content for this reference",
            )
            for probe in answered
            if probe.digest != wanted
        ]
    if len({probe.digest for probe in answered}) < 2:
        return []
    listing = ", ".join(f"{probe.location} {probe.digest}" for probe in answered)
    return [
        Finding(
            "probe-mirror-differs",
            "warn",
            f"the mirrors answer with different manifests for this tag: {listing}",
        )
    ]


def judge_probes(probes: Sequence[Probe], wanted: Optional[str] = None) -> list[Finding]:
    """Mirrors asked directly: a mirror without the image means fallback would not work;
    mirrors answering with other manifests (than ``wanted``, the reference's digest, or
    than each other for a tag) hold other content."""
    findings = _differing_probes(probes, wanted)
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
