"""A stop signal that arrives while a scratch store is being removed (the worst moment:
whatever is mounted in the store must still be cleaned up)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from agent.pull import scratch


def signal_during_removal(monkeypatch: pytest.MonkeyPatch, signum: int) -> list[bool]:
    """From now on, removing a scratch store raises ``signum`` halfway; the list returned
    gets, for each removal, whether the store was gone when it finished."""
    removed: list[bool] = []
    real_remove = scratch.remove_tree

    def remove_while_stopped(path: Path) -> list[str]:
        signal.raise_signal(signum)  # arrives in the middle of the cleanup
        problems = real_remove(path)
        removed.append(not path.exists())
        return problems

    monkeypatch.setattr(scratch, "remove_tree", remove_while_stopped)
    return removed
