"""``agent analyze``: the parser and the judge over a log captured elsewhere (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from agent.commands.journal import journal_image_result, journal_result
from agent.commands.pasted import pasted_results
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.lines import plain_text
from agent.pull.log.podman import parse_pull_log
from agent.registries import LoadedHost
from agent.report import CheckReport, Finding, worst


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
        # podman/skopeo output, pasted errors, kubelet events: one result per image
        results = pasted_results(loaded, text, image=image, exit_code=exit_code)
        if not results:
            finding = Finding(
                "no-pull-in-log",
                "error",
                "the log shows no pull attempt; pass --image if it is truncated",
            )
            return replace(report, findings=(finding,))
    if not results:
        finding = Finding("no-pull-in-log", "error", "the journal excerpt shows no pull")
        return replace(report, findings=(finding,))
    return replace(report, images=results, verdict=worst([r.verdict for r in results]))
