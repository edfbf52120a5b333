"""A clock and a sleep for code that takes them as parameters: sleeping only moves the
clock forward, so waits and intervals are tested instantly."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []  # every sleep, in order

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
