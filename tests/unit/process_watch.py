"""Watching the processes a test starts: whether they are gone, and that none is left."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psutil


def gone(pid: int) -> bool:
    """Not running any more (a zombie only waits for its reaper: it is dead)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """The ``pids`` still running after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if not gone(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [pid for pid in alive if not gone(pid)]
    return alive


@contextlib.contextmanager
def no_leftover_processes() -> Iterator[None]:
    """Fails when the block leaves a process of its own running (killing it); others,
    e.g. the session lab's registries, are left alone."""
    me = psutil.Process()
    before = {process.pid for process in me.children(recursive=True)}
    yield
    left = [
        process
        for process in me.children(recursive=True)
        if process.pid not in before and not gone(process.pid)
    ]
    for process in left:
        process.kill()
    assert left == []
