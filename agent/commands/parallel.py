"""Several images checked at once, each in a worker thread of its own.

Each check is a podman or skopeo process (plus, for a pull, its own scratch store), so
threads only wait: the work is in the subprocesses. At most ``limits[method]`` checks of
each method run at once; images start in input order as slots free up, and results come
back in input order. One image's failure or timeout never stops the others.

SIGTERM and Ctrl-C reach the main thread only: it then sets the stop event every worker
runs under (:func:`agent.process.stopped_by`), so every command in flight is stopped and
every scratch store removed, waits for the workers, and reports what was checked.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Union

from agent.errors import UsageError
from agent.process import (
    CommandStopped,
    Terminated,
    stop_signals_deferred,
    stop_signals_raise,
    stopped_by,
)
from agent.report import ImageResult

__all__ = ["DEFAULT_PARALLEL", "Outcome", "check_concurrently", "parallel_limits"]

#: Checks at once when ``--parallel`` is not given (docs/benchmarks.md has the figures):
#: a manifest check is one small request; a pull is disk- and network-heavy and already
#: runs several blob downloads at once inside podman.
DEFAULT_PARALLEL: Mapping[str, int] = {"pull": 4, "manifest": 8}
MAX_PARALLEL = 64
#: How often the main thread looks up from waiting (signals are handled in between).
_WAKE = 0.5


def parallel_limits(parallel: Optional[int]) -> dict[str, int]:
    """Checks of each method at once: ``parallel`` for both, else the defaults."""
    if parallel is None:
        return dict(DEFAULT_PARALLEL)
    if not 1 <= parallel <= MAX_PARALLEL:
        raise UsageError(f"--parallel must be between 1 and {MAX_PARALLEL}, not {parallel}")
    return {method: parallel for method in DEFAULT_PARALLEL}


@dataclass
class Outcome:
    """Results in input order (None: not checked, the check was stopped first) and the
    stop (KeyboardInterrupt or Terminated) that ended the checks early, if one did."""

    results: list[Optional[ImageResult]]
    stopped: Optional[BaseException] = None


_Done = tuple[int, Union[ImageResult, BaseException, None]]


def check_concurrently(
    images: Sequence[str],
    method_of: Callable[[str], str],
    check: Callable[[str], ImageResult],
    limits: Mapping[str, int],
    *,
    on_done: Optional[Callable[[int], None]] = None,
) -> Outcome:
    """``check(image)`` for every image, up to ``limits[method_of(image)]`` at once.

    ``on_done(n)`` is called (in the main thread) each time an image is done, ``n`` the
    number done so far. An unexpected exception in a worker (a bug) stops the others and
    is raised here once they have ended.
    """
    outcome = Outcome([None] * len(images))
    stop = threading.Event()
    finished: queue.Queue[_Done] = queue.Queue()
    waiting = list(range(len(images)))
    running: dict[int, tuple[threading.Thread, str]] = {}
    total_limit = max(limits.values())
    failure: Optional[BaseException] = None

    def work(index: int) -> None:
        answer: Union[ImageResult, BaseException, None]
        try:
            with stopped_by(stop):
                answer = check(images[index])
        except CommandStopped:
            answer = None
        except BaseException as exc:  # handed to the main thread, never lost here
            answer = exc
        finished.put((index, answer))

    def start_what_fits() -> None:
        for index in list(waiting):
            if len(running) >= total_limit:
                return
            method = method_of(images[index])
            busy = sum(1 for _, m in running.values() if m == method)
            if busy >= limits.get(method, total_limit):
                continue
            waiting.remove(index)
            thread = threading.Thread(
                target=work, args=(index,), name=f"check {images[index]}", daemon=True
            )
            running[index] = (thread, method)
            thread.start()

    def collect(index: int, answer: Union[ImageResult, BaseException, None]) -> None:
        nonlocal failure
        thread, _ = running.pop(index)
        thread.join()
        if isinstance(answer, (KeyboardInterrupt, Terminated)):
            # not a signal (those reach the main thread) but a stop all the same
            outcome.stopped = outcome.stopped or answer
            stop.set()
        elif isinstance(answer, BaseException):
            failure = failure or answer
            stop.set()
        else:
            outcome.results[index] = answer
            if answer is not None and on_done is not None:
                on_done(sum(1 for result in outcome.results if result is not None))

    with stop_signals_raise():
        try:
            while (waiting and not stop.is_set()) or running:
                if not stop.is_set():
                    start_what_fits()
                try:
                    collect(*finished.get(timeout=_WAKE))
                except queue.Empty:
                    continue
        except (KeyboardInterrupt, Terminated) as stopped:
            outcome.stopped = stopped
            stop.set()
            # Every worker stops its command and removes its scratch store; a second
            # Ctrl-C must not cut that short.
            with contextlib.suppress(KeyboardInterrupt, Terminated), stop_signals_deferred():
                while running:
                    try:
                        collect(*finished.get(timeout=_WAKE))
                    except queue.Empty:
                        # the stop may have come between noting a worker and starting it
                        for index in [i for i, (t, _) in running.items() if t.ident is None]:
                            del running[index]
    if failure is not None and outcome.stopped is None:
        raise failure
    return outcome
