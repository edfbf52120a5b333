"""Room on the node's disk for the pulls in flight at once.

Each pull needs ``min_free_bytes`` free before it starts (the kubelet starts deleting
images at 85% use). With several pulls at once, a pull only starts when the free space
covers its own requirement plus that of every pull already in flight: the others will
fill the disk while it runs. One that does not fit waits for a pull in flight to end;
one that does not fit with nothing in flight is refused, as a lone pull always was.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Callable

from agent.errors import CheckEnvironmentError
from agent.process import raise_if_stopped

__all__ = ["PullsInFlight"]

#: How often a pull waiting for room looks again (besides when a pull in flight ends).
_RECHECK = 1.0


class PullsInFlight:
    """The pulls under way in this process and the room they hold (thread-safe)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = 0
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    @property
    def held_bytes(self) -> int:
        return self._held

    @contextlib.contextmanager
    def reserve(self, amount: int, check: Callable[[int], None]) -> Iterator[None]:
        """Hold ``amount`` bytes for the block once ``check(held)`` passes.

        ``check`` raises CheckEnvironmentError unless the disk has ``amount`` bytes free
        beyond the ``held`` bytes the pulls in flight hold. While it fails and other
        pulls are in flight, this waits for one of them to end; with none in flight, its
        error is raised.
        """
        with self._changed:
            while True:
                raise_if_stopped()
                try:
                    check(self._held)
                    break
                except CheckEnvironmentError:
                    if self._count == 0:
                        raise
                self._changed.wait(_RECHECK)
            self._held += amount
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._held -= amount
                self._count -= 1
                self._changed.notify_all()
