"""``agent analyze``: the parser and the judge over a log captured elsewhere (pure)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

from agent.commands.journal import journal_image_result, journal_result
from agent.commands.results import TRYING_TO_ACCESS, error_result, result_from_log
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.lines import plain_text
from agent.pull.log.model import PullLog
from agent.pull.log.podman import parse_pull_log
from agent.registries import LoadedHost
from agent.registries.model import Configuration
from agent.registries.resolve import source_of
from agent.report import CheckReport, Finding, worst

_LOGICAL_REFERENCE = (
    re.compile(r"Pulling image (\S+) \(policy"),
    re.compile(r"Attempting to pull candidate (\S+) for"),
    re.compile(r'Error parsing image name \\?"docker://([^"\\]+)'),
    re.compile(r"initializing source docker://(\S+?): "),
    re.compile(r"Pulling image: (\S+)"),
)
_IMAGE_ID_LINE = re.compile(r"^[0-9a-f]{64}$", re.MULTILINE)


def logical_reference(text: str, config: Configuration) -> Optional[str]:
    """The image a captured log pulled: named by podman, or mapped back from its first attempt."""
    for pattern in _LOGICAL_REFERENCE:
        match = pattern.search(text)
        if match:
            return match.group(1).strip('"')
    first = TRYING_TO_ACCESS.search(text)
    return source_of(config, first.group(1)) if first else None


def _inferred_exit_code(log: PullLog, text: str) -> Optional[int]:
    """The exit status the tool must have had, from how its log ends (None: unknown)."""
    if log.final_error:
        return 1 if log.tool == "skopeo" else 125  # the tools' own status for a failed pull
    if log.shutdown:
        return None
    if log.tool == "skopeo" or _IMAGE_ID_LINE.search(text) or "Writing manifest" in text:
        return 0
    return None


def analyze_log(
    loaded: LoadedHost,
    text: str,
    *,
    source: str,
    image: Optional[str],
    exit_code: Optional[int],
    checked_at: str,
    agent_version: str,
) -> CheckReport:
    """``agent analyze``: the parser and the judge over a log captured elsewhere."""
    text = plain_text(text)  # pasted from a terminal: colours, CRLF
    config = loaded.config
    report = CheckReport(
        node=f"(log {source})",
        checked_at=checked_at,
        verdict="error",
        method="log",
        storage="-",
        registries_files=config.files,
        fingerprint=config.fingerprint,
        behaviour=config.compat.label,
        agent_version=agent_version,
    )
    probe = parse_pull_log(text, exit_code=exit_code)
    if probe.tool == "crio" and image is None:
        results = tuple(journal_result(loaded, pull) for pull in parse_crio_journal(text))
    elif probe.tool == "crio" and image is not None:
        # A journal holds the pulls of many images: judge the given one, not the last pull.
        pulls = parse_crio_journal(text)
        results = (journal_image_result(loaded, pulls, image, source, exit_code, text),)
    else:
        name = image or logical_reference(text, config)
        if name is None:
            finding = Finding(
                "no-pull-in-log",
                "error",
                "the log shows no pull attempt; pass --image if it is truncated",
            )
            return replace(report, findings=(finding,))
        code = exit_code if exit_code is not None else _inferred_exit_code(probe, text)
        # Outcomes depend on the exit code: parse again only when it had to be inferred.
        log = probe if code == exit_code else parse_pull_log(text, exit_code=code)
        explanation = loaded.explain(name)
        if explanation.problem:
            results = (error_result(name, explanation.problem.kind, explanation.problem.message),)
        else:
            results = (
                result_from_log(
                    name,
                    # A short name's first candidate may have failed to rewrite (podman goes
                    # on to the next): judge against the first that has sources.
                    next(
                        (r for r in explanation.resolutions if r.problem is None),
                        explanation.resolutions[0],
                    ),
                    log,
                    exit_code=code,
                    timed_out=False,
                    duration=None,
                    raw=text,
                ),
            )
    if not results:
        finding = Finding("no-pull-in-log", "error", "the journal excerpt shows no pull")
        return replace(report, findings=(finding,))
    return replace(report, images=results, verdict=worst([r.verdict for r in results]))
