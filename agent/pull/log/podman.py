"""The debug log of one pull by podman or skopeo, read into a :class:`~.model.PullLog`.

``podman pull --log-level=debug REF`` or ``skopeo --debug inspect --raw docker://REF``,
stdout and stderr together. podman's retry loop (``Failed, retrying in …``) walks the whole
candidate list again: only the round after the last such warning decides. Text that turns
out to be a CRI-O journal is read by :mod:`.crio_journal` instead. Without debug lines
the attempts come from the error text (:mod:`.inferred`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from agent.pull.log.events import Event, Scan
from agent.pull.log.inferred import error_attempts
from agent.pull.log.model import Attempt, Outcome, PullLog, Tool

__all__ = ["build_pull_log", "parse_pull_log"]


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
    last of their round are "unfinished". An ``Accessing "R" failed`` line before any
    ``Trying to access`` of its round (an excerpt that begins mid-pull) is an attempt too.
    A round without ``Trying to access`` lines gets its attempts from its error text (the
    final error, or the retry warning that ended it): ``attempts_inferred``.

    For CRI-O text (no retry loop), the last pull of
    :func:`.crio_journal.parse_crio_journal` decides and earlier pulls of the same image are
    the earlier rounds (kubelet's retries); ``final_error`` is None.
    """
    scan = Scan(text)
    tool = scan.tool
    if tool == "crio":
        return crio_pull_log(scan, exit_code=exit_code, killed=killed)
    return build_pull_log(
        tool,
        scan.events,
        exit_code=exit_code,
        killed=killed,
        shutdown=scan.shutdown,
        final_error=scan.final_error,
        config_files=tuple(scan.config_files),
    )


class _Round:
    __slots__ = ("error", "manifest_read", "reading", "tried", "tries")

    def __init__(self) -> None:
        self.tries: list[Try] = []
        self.tried = False  # a `Trying to access` line was seen
        self.manifest_read = False
        self.reading: Optional[Try] = None  # the attempt open when the manifest was read
        self.error: Optional[str] = None  # the retry warning's error that ended it


def build_pull_log(
    tool: Tool,
    events: Sequence[Event],
    *,
    exit_code: Optional[int],
    killed: bool,
    shutdown: bool,
    final_error: Optional[str],
    config_files: tuple[str, ...] = (),
    image: Optional[str] = None,
    progress_serves: bool = False,
) -> PullLog:
    """The :class:`PullLog` of one pull's events (see :func:`parse_pull_log`).

    ``progress_serves``: a line that shows the manifest was read (``Copying blob``) makes the
    last attempt "served" whatever ``exit_code`` says (for a log whose exit status is not
    known, only inferred).
    """
    rounds = [_Round()]
    pending = Pending()
    completed = False
    for event in events:
        current = rounds[-1]
        if event.kind == "try":
            attempt = Try(event.value)
            current.tries.append(attempt)
            current.tried = True
            pending.add(attempt)
        elif event.kind == "fail":
            if not pending.fail(event.value, event.message) and not current.tried:
                orphan = Try(event.value)  # the excerpt begins after its `Trying to access`
                orphan.fail(event.message)
                current.tries.append(orphan)
        elif event.kind == "retry":
            current.error = event.message or None
            rounds.append(_Round())
            pending = Pending()
        elif event.kind == "progress":
            if not current.manifest_read:
                current.reading = next((t for t in reversed(current.tries) if not t.failed), None)
            current.manifest_read = True
            completed = completed or event.message == "complete"
    earlier = tuple(_earlier_round(done, image) for done in rounds[:-1])
    last = rounds[-1]
    inferred = False
    retry_pending = _pending_retry(rounds, earlier, final_error, exit_code, killed)
    if retry_pending:
        # The excerpt ends after a retry warning: show the round it ended (the next one is
        # not in the excerpt), and say the pull went on.
        rounds.pop()
        last = rounds[-1]
        attempts, earlier = earlier[-1], earlier[:-1]
        inferred = not last.tries
    elif not last.tries and final_error is not None:
        attempts = error_attempts(final_error, image)
        inferred = bool(attempts)
    else:
        outcome: Outcome = "unfinished"
        if last.tries and not last.tries[-1].failed:
            outcome = dangling_outcome(
                exit_code,
                killed,
                shutdown,
                final_error,
                last.tries[-1].location,
                served=progress_serves and last.manifest_read,
            )
        attempts = freeze(last.tries, outcome)
        if progress_serves and last.reading is not None and last.reading is not last.tries[-1]:
            # The manifest was read while an earlier attempt was open: that one served it.
            attempts = tuple(
                t.freeze("served" if t is last.reading else "unfinished") for t in last.tries
            )
    return PullLog(
        tool=tool,
        attempts=attempts,
        rounds=len(rounds),
        earlier_rounds=earlier,
        config_files=config_files,
        final_error=final_error,
        final_error_sources=final_error_sources(final_error, attempts),
        shutdown=shutdown,
        served_by=served_by(attempts),
        attempts_inferred=inferred,
        image=image,
        manifest_read=last.manifest_read or completed,
        completed=completed,
        retry_pending=retry_pending,
    )


def _pending_retry(
    rounds: list[_Round],
    earlier: tuple[tuple[Attempt, ...], ...],
    final_error: Optional[str],
    exit_code: Optional[int],
    killed: bool,
) -> bool:
    """Does the text end after a retry warning, with nothing of the next round shown?"""
    last = rounds[-1]
    if last.tries or last.manifest_read or final_error is not None:
        return False
    return exit_code is None and not killed and bool(earlier) and bool(earlier[-1])


def _earlier_round(done: _Round, image: Optional[str]) -> tuple[Attempt, ...]:
    if not done.tries and done.error is not None:
        return error_attempts(done.error, image)
    return freeze(done.tries, "served")
