"""What agent check shows while it pulls: only on a terminal, and wiped before the report."""

from __future__ import annotations

import io

import pytest

from agent.cli import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_image_progress_rewrites_one_line_and_wipes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    shown = progress.ImageProgress()
    shown("quay.io/team/app@sha256:1", "trying mirror.example.net/team/app@sha256:1")
    shown("quay.io/team/app@sha256:1", "starting")
    shown.clear()
    first = "quay.io/team/app@sha256:1: trying mirror.example.net/team/app@sha256:1"
    second = "quay.io/team/app@sha256:1: starting".ljust(len(first))  # covers the longer line
    assert terminal.getvalue() == f"\r{first}\r{second}\r{' ' * len(second.rstrip())}\r"


def test_image_progress_is_silent_when_stderr_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    shown = progress.ImageProgress()
    shown("quay.io/team/app@sha256:1", "starting")
    shown.clear()
    assert pipe.getvalue() == ""
