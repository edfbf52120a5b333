"""``agent analyze``: the parser and the judge over a log captured elsewhere (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from agent.commands.journal import journal_image_result, journal_result
from agent.commands.pasted import pasted_results
from agent.pull.judge import SEVERITY_VERDICT, verdict_of
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.lines import plain_text
from agent.pull.log.podman import parse_pull_log
from agent.registries import LoadedHost
from agent.report import CheckReport, Finding, ImageResult, worst


def analyze_log(
    loaded: LoadedHost,
    text: str,
    *,
    source: str,
    image: Optional[str],
    exit_code: Optional[int],
    checked_at: str,
    agent_version: str,
    config_of_this_machine: bool = False,
) -> CheckReport:
    """``agent analyze``: the parser and the judge over a log captured elsewhere.

    ``config_of_this_machine``: no configuration was named (no --host-root, no
    --registries-conf) and the one read is this machine's own, which need not be the
    configuration the log was written with (see :func:`_config_not_the_logs`)."""
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
    if config_of_this_machine:
        doubt = _config_not_the_logs(loaded, results)
        if doubt is not None:
            results = tuple(_without_unexpected_sources(result) for result in results)
            verdicts = [r.verdict for r in results] + [SEVERITY_VERDICT[doubt.severity]]
            return replace(report, images=results, findings=(doubt,), verdict=worst(verdicts))
    return replace(report, images=results, verdict=worst([r.verdict for r in results]))


_UNEXPECTED = "unexpected-source"


def _config_not_the_logs(loaded: LoadedHost, results: tuple[ImageResult, ...]) -> Optional[Finding]:
    """One finding when this machine's configuration is evidently not the log's: it has no
    main registries.conf, or the log tried sources it does not name at all. Comparing
    each image with it would fail every mirror as an unexpected source (a workstation
    judging a node's log)."""
    main = any(f.endswith("/etc/containers/registries.conf") for f in loaded.config.files)
    unknown = sorted(
        {a.location for r in results for a in r.attempts if a.kind is None}
        if any(f.code == _UNEXPECTED for r in results for f in r.findings)
        else set()
    )
    if main and not unknown:
        return None
    why = (
        "this machine has no /etc/containers/registries.conf"
        if not main
        else f"the log tried sources it does not name: {', '.join(unknown[:5])}"
        + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    )
    return Finding(
        "config-not-the-logs",
        "warn",
        f"the log was compared with this machine's registries.conf ({why}), which is "
        "evidently not the configuration the log was written with; unexpected sources are "
        "not reported per image. Pass the node's files (--registries-conf FILE, or "
        "--host-root DIR with its etc/containers, e.g. from a must-gather) to judge the "
        "attempts against the node's mirrors",
    )


def _without_unexpected_sources(result: ImageResult) -> ImageResult:
    findings = tuple(f for f in result.findings if f.code != _UNEXPECTED)
    if len(findings) == len(result.findings):
        return result
    return replace(result, findings=findings, verdict=verdict_of(findings))
