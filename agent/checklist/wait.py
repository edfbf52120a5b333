"""Waiting until every expected node has a fresh report (no I/O of its own: the fetching,
the clock, the sleep and the progress display are passed in, so tests run it instantly)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Union

from agent.checklist.model import Unavailable
from agent.checklist.snapshot import NodeReport, Reports

# Fetch reports: of every node (None), or only of these nodes (cheap when few are left).
FetchReports = Callable[[Optional[Collection[str]]], Union[Reports, Unavailable]]
Progress = Callable[[int, int], None]  # (nodes with a fresh report, expected nodes)
FEW = 50  # below this many pending nodes, reports are read one by one instead of listed


@dataclass(frozen=True)
class WaitResult:
    reports: Union[Reports, Unavailable]
    seconds: float
    timed_out: bool
    fresh: int
    expected: int


def wait_for_reports(
    fetch: FetchReports,
    expected: Sequence[str],
    fresh: Callable[[NodeReport], bool],
    *,
    timeout: float,
    poll: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Optional[Progress] = None,
    initial: Optional[Reports] = None,
) -> WaitResult:
    """Poll until every node in ``expected`` has a report for which ``fresh`` holds, or
    ``timeout`` seconds pass (0: look once). Nodes that never report stay not fresh.
    ``initial``: reports already read (saves the first full listing)."""
    start = clock()
    reports = initial if initial is not None else fetch(None)
    wanted = set(expected)
    while True:
        if isinstance(reports, Unavailable):
            return WaitResult(reports, clock() - start, False, 0, len(wanted))
        done = {name for name in wanted if name in reports.by_node and fresh(reports.by_node[name])}
        if progress is not None:
            progress(len(done), len(wanted))
        elapsed = clock() - start
        if done == wanted or elapsed >= timeout:
            return WaitResult(reports, elapsed, done != wanted, len(done), len(wanted))
        sleep(max(0.0, min(poll, timeout - elapsed)))
        pending = wanted - done
        update = fetch(pending if len(pending) <= FEW else None)
        if isinstance(update, Unavailable):
            return WaitResult(update, clock() - start, False, len(done), len(wanted))
        if len(pending) <= FEW:
            reports.merge(update)
        else:
            reports = update
