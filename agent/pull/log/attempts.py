"""Attempts while a log is read, and what became of them once it is read.

An attempt ends failed with its ``Accessing "R" failed`` line. Without one, the last attempt
of the decisive round is the one that served the image (rc 0) or the one the pull hung at
(the tool was killed); an attempt without one before the last is "unfinished".
"""

from __future__ import annotations

from typing import Optional

from agent.pull.log.classify import classify_failure
from agent.pull.log.error_sources import parse_error_sources
from agent.pull.log.model import Attempt, Outcome, Reason
from agent.pull.log.redact import redact

__all__ = ["Pending", "Try", "dangling_outcome", "final_error_sources", "freeze", "served_by"]


class Try:
    """An attempt while the log is read (mutable); :meth:`freeze` makes the Attempt."""

    __slots__ = ("location", "message", "reason")

    def __init__(self, location: str) -> None:
        self.location = location
        self.message: Optional[str] = None
        self.reason: Optional[Reason] = None

    def fail(self, message: str) -> None:
        self.reason = classify_failure(message)
        self.message = redact(message)

    @property
    def failed(self) -> bool:
        return self.reason is not None

    def freeze(self, outcome: Outcome) -> Attempt:
        if self.failed:
            return Attempt(self.location, "failed", self.reason, self.message)
        return Attempt(self.location, outcome)


def freeze(tries: list[Try], last_outcome: Outcome) -> tuple[Attempt, ...]:
    """Attempts without a failure line: ``last_outcome`` for the last, "unfinished" before."""
    count = len(tries)
    return tuple(
        attempt.freeze(last_outcome if index == count - 1 else "unfinished")
        for index, attempt in enumerate(tries)
    )


class Pending:
    """Attempts waiting for their ``Accessing "R" failed`` line, by location (latest first)."""

    def __init__(self) -> None:
        self._by_location: dict[str, list[Try]] = {}

    def add(self, attempt: Try) -> None:
        self._by_location.setdefault(attempt.location, []).append(attempt)

    def fail(self, location: str, message: str) -> bool:
        """Ends the latest open attempt at ``location``; False when there is none."""
        stack = self._by_location.get(location)
        if stack:
            stack.pop().fail(message)
            return True
        return False


_RESOLUTION_ERROR_MARKERS = ("mirrors also failed", "initializing source", "parsing image name")


def _is_resolution_error(final_error: str, location: str) -> bool:
    """Does the tool's final error say that resolving the image (NewImageSource) failed?"""
    lowered = final_error.lower()
    return location in final_error or any(m in lowered for m in _RESOLUTION_ERROR_MARKERS)


def dangling_outcome(
    exit_code: Optional[int],
    killed: bool,
    shutdown: bool,
    final_error: Optional[str],
    location: str,
    served: bool = False,
) -> Outcome:
    """The outcome of the decisive round's last attempt when it has no failure line."""
    if served or exit_code == 0:
        return "served"
    if killed or shutdown:
        return "hung"
    if final_error is not None and not _is_resolution_error(final_error, location):
        # The tool failed after this source served the manifest (skopeo's tag listing,
        # a blob download, a signature policy): resolution itself succeeded here.
        return "served"
    return "unfinished"


def final_error_sources(
    final_error: Optional[str], attempts: tuple[Attempt, ...]
) -> tuple[tuple[str, str], ...]:
    """``(ref, err)`` per source named in the final error, primary last (see
    :func:`.error_sources.parse_error_sources`); the tried location for a single candidate."""
    if final_error is None:
        return ()
    sources = parse_error_sources(final_error)
    if len(sources) > 1:
        return sources
    failed = [attempt for attempt in attempts if attempt.outcome == "failed"]
    if len(attempts) == 1 and len(failed) == 1:
        # One candidate: its error is returned unchanged, under the logical reference;
        # name the physical source that was tried instead.
        only = failed[0]
        if only.message and final_error.endswith(only.message):
            return ((only.location, only.message),)
    return sources


def served_by(attempts: tuple[Attempt, ...]) -> Optional[str]:
    """The location of the attempt that served the image, if one did."""
    for attempt in attempts:
        if attempt.outcome == "served":
            return attempt.location
    return None
