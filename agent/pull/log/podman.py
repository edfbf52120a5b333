"""The debug log of one pull by podman or skopeo, read into a :class:`~.model.PullLog`.

``podman pull --log-level=debug REF`` or ``skopeo --debug inspect --raw docker://REF``,
stdout and stderr together. podman's retry loop (``Failed, retrying in …``) walks the whole
candidate list again: only the round after the last such warning decides. Text that turns
out to be a CRI-O journal is read by :mod:`.crio_journal` instead.
"""

from __future__ import annotations

from typing import Optional

from agent.pull.log.attempts import (
    Pending,
    Try,
    dangling_outcome,
    final_error_sources,
    freeze,
    served_by,
)
from agent.pull.log.crio_journal import crio_pull_log
from agent.pull.log.events import Scan
from agent.pull.log.model import Outcome, PullLog

__all__ = ["parse_pull_log"]


def parse_pull_log(text: str, *, exit_code: Optional[int], killed: bool = False) -> PullLog:
    """Parse the debug log of one pull (podman, skopeo, or a CRI-O journal excerpt).

    ``exit_code`` is the tool's exit status (None: unknown); ``killed``: the agent killed
    it (timeout). The attempt without a failure line at the end of the decisive round is
    "served" when rc is 0; else "hung" when killed or a shutdown signal was logged;
    else "served" when the tool failed for a reason other than resolution (e.g. skopeo's
    ``Error determining repository tags`` after the manifest came from that source, a
    blob download error); else "unfinished".
    In earlier rounds such an attempt is "served" (the manifest came from it, something
    after that failed and was retried). Attempts without a failure line that are not the
    last of their round are "unfinished".

    For CRI-O text (no retry loop), the last pull of
    :func:`.crio_journal.parse_crio_journal` decides and earlier pulls of the same image are
    the earlier rounds (kubelet's retries); ``final_error`` is None.
    """
    scan = Scan(text)
    tool = scan.tool
    if tool == "crio":
        return crio_pull_log(scan, exit_code=exit_code, killed=killed)
    rounds: list[list[Try]] = [[]]
    pending = Pending()
    for event in scan.events:
        if event.kind == "try":
            attempt = Try(event.value)
            rounds[-1].append(attempt)
            pending.add(attempt)
        elif event.kind == "fail":
            pending.fail(event.value, event.message)
        elif event.kind == "retry":
            rounds.append([])
            pending = Pending()
    earlier = tuple(freeze(tries, "served") for tries in rounds[:-1])
    last = rounds[-1]
    outcome: Outcome = "unfinished"
    if last and not last[-1].failed:
        outcome = dangling_outcome(
            exit_code, killed, scan.shutdown, scan.final_error, last[-1].location
        )
    attempts = freeze(last, outcome)
    return PullLog(
        tool=tool,
        attempts=attempts,
        rounds=len(rounds),
        earlier_rounds=earlier,
        config_files=tuple(scan.config_files),
        final_error=scan.final_error,
        final_error_sources=final_error_sources(scan.final_error, attempts),
        shutdown=scan.shutdown,
        served_by=served_by(attempts),
    )
