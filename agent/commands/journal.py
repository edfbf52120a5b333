"""CRI-O's journal judged: which source served each pull the node's runtime really made.

Shared by ``agent analyze`` (a journal excerpt) and ``agent check --history``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

from agent import reference as references
from agent.commands.results import error_result, result_from_log
from agent.pull.judge import verdict_of
from agent.pull.log.model import JournalPull, PullLog
from agent.registries import LoadedHost
from agent.registries.resolve import sources_of
from agent.report import Finding, ImageResult


def journal_source(loaded: LoadedHost, pull: JournalPull) -> str:
    """The image a CRI-O pull was for.

    Without a ``Pulling image`` line (a grep'd excerpt) the journal only names the first
    location tried, and a mirror shared by several entries stands for several sources:
    the one whose pull sources include every location the pull tried is taken.
    """
    candidates = sources_of(loaded.config, pull.image)
    tried = {attempt.location for attempt in pull.attempts}
    for candidate in candidates if len(candidates) > 1 else ():
        explanation = loaded.explain(candidate)
        if explanation.problem or len(explanation.resolutions) != 1:
            continue
        if tried <= {source.location for source in explanation.resolutions[0].pull_sources}:
            return candidate
    return candidates[0]


def _journal_reference(loaded: LoadedHost, pull: JournalPull) -> Optional[str]:
    """The reference a journal pull was for, as podman pulls it (None: not a valid one)."""
    mapped = journal_source(loaded, pull)
    try:
        if references.is_short_name(mapped):
            return mapped  # resolved by CRI-O's own search; compared as written
        return str(references.parse_normalized(mapped).for_pull())
    except references.ReferenceError:
        return None


def journal_image_result(
    loaded: LoadedHost,
    pulls: Sequence[JournalPull],
    image: str,
    source: str,
    exit_code: Optional[int],
    raw: str,
) -> ImageResult:
    """``analyze JOURNAL --image X``: the last pull of X decides, earlier ones are retries."""
    explanation = loaded.explain(image)
    if explanation.problem:
        return error_result(image, explanation.problem.kind, explanation.problem.message)
    wanted = {resolution.reference for resolution in explanation.resolutions} | {image}
    mine = [pull for pull in pulls if _journal_reference(loaded, pull) in wanted]
    if not mine:
        others = sorted({journal_source(loaded, pull) for pull in pulls})
        seen = f"it shows pulls of {', '.join(others[:5])}" + (
            f" and {len(others) - 5} more" if len(others) > 5 else ""
        )
        return error_result(
            image,
            "no-pull-in-log",
            f"{source} shows no CRI-O pull of {explanation.normalized or image} "
            f"({seen if others else 'it shows no pull at all'})",
            reference=explanation.normalized,
        )
    return journal_result(
        loaded, mine[-1], image=image, earlier=mine[:-1], exit_code=exit_code, raw=raw
    )


def journal_result(
    loaded: LoadedHost,
    pull: JournalPull,
    *,
    image: Optional[str] = None,
    earlier: Sequence[JournalPull] = (),
    exit_code: Optional[int] = None,
    raw: str = "",
) -> ImageResult:
    """One CRI-O pull judged; ``earlier`` pulls of the same image are its earlier rounds."""
    mapped = journal_source(loaded, pull)
    explanation = loaded.explain(mapped)
    name = image or mapped
    if explanation.problem or len(explanation.resolutions) != 1:
        message = explanation.problem.message if explanation.problem else "short name"
        return error_result(name, "unresolvable", message)
    attempts = pull.attempts
    if exit_code == 0 and attempts and attempts[-1].outcome == "unfinished":
        # Told that the pull succeeded: its last attempt served it, as in parse_pull_log.
        attempts = (*attempts[:-1], replace(attempts[-1], outcome="served"))
    log = PullLog(
        tool="crio",
        attempts=attempts,
        rounds=1 + len(earlier),
        earlier_rounds=tuple(previous.attempts for previous in earlier),
        config_files=(),
        final_error=pull.error,  # the kubelet's, when the journal holds it
        final_error_sources=(),
        shutdown=False,
        served_by=next((a.location for a in attempts if a.outcome == "served"), None),
    )
    if exit_code is None:
        exit_code = 0 if log.served_by else None
    result = result_from_log(
        name,
        explanation.resolutions[0],
        log,
        exit_code=exit_code,
        timed_out=False,
        duration=None,
        raw=raw,
    )
    if (
        exit_code is None
        and pull.pulled is None
        and pull.error is None
        and attempts[-1:]
        and (attempts[-1].outcome == "unfinished")
    ):
        # No end in the journal: CRI-O logs one only for a success (a failure is in the
        # kubelet's events), and a grep'd excerpt may have dropped it. Unknown is not
        # "nothing served it".
        unknown = Finding(
            "outcome-unknown",
            "error",
            f"the journal does not show how this pull ended: no 'Pulled image' line after "
            f"{attempts[-1].location} (CRI-O logs one only when a pull succeeds; a failure "
            "is in the kubelet's events: oc get events --field-selector reason=Failed)",
        )
        findings = [f for f in result.findings if f.code not in ("not-served", unknown.code)]
        findings.append(unknown)
        result = replace(result, findings=tuple(findings), verdict=verdict_of(findings))
    return result
