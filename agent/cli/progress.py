"""What commands show and wait with while they run: the seams tests may replace.

Progress goes to stderr, only when it is a terminal, so that piped output stays clean.
"""

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


class ImageProgress:
    """``agent check``: one line on stderr, rewritten in place, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.active = sys.stderr.isatty()
        self.width = 0

    def __call__(self, image: str, state: str) -> None:
        if not self.active:
            return
        from agent.output.text import terminal_safe

        text = terminal_safe(f"{image}: {state}")[:160]
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.active and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


class ReportsBar:
    """``n of N nodes reported`` on stderr, redrawn in place, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.active = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\rwaiting for node reports [{bar}] {done} of {total} nodes reported")
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * 90 + "\r")
            sys.stderr.flush()


def clock() -> float:
    """The clock of checklist pre-upgrade's wait for node reports."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    """The pause between two looks at the node reports (checklist pre-upgrade)."""
    time.sleep(seconds)


def now() -> "datetime":
    """The time a checklist is made (UTC)."""
    from datetime import datetime, timezone  # imported by the commands that need it

    return datetime.now(timezone.utc)
