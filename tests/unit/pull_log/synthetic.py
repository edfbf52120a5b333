"""Synthetic logs for the log-reader tests, and a table row for what a log must give.

``logrus()`` and ``crio()`` write the lines podman/skopeo and CRI-O write (stderr not a
terminal, and ``journalctl -u crio``); ``to_terminal()`` rewrites them as logrus does on a
terminal. ``case()`` is one row of a table: a log (synthetic lines, or a recorded fixture by
name) with the exit status, and the fields its :class:`PullLog` must have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import pytest

from agent.pull.log.model import PullLog
from agent.pull.log.podman import parse_pull_log
from tests.unit.pull_log.recorded import read_fixture

QUAY = "quay.io/team/app@sha256:" + "a" * 64
MIRROR = "mirror.example.com:5000/team/app@sha256:" + "a" * 64
MIRROR2 = "backup.example.com/team/app@sha256:" + "a" * 64


def logrus(msg: str, level: str = "debug", stamp: str = "2026-11-25T20:26:46Z") -> str:
    escaped = msg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'time="{stamp}" level={level} msg="{escaped}"'


def crio(stamp: str, msg: str, level: str = "info", extra: str = "") -> str:
    """A `journalctl -u crio` line (default short output)."""
    escaped = msg.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'Nov 25 {stamp} node-1 crio[2048]: time="2024-11-25 {stamp}.123456789Z" level={level} '
        f'msg="{escaped}"{extra}'
    )


_LOGRUS_LINE = re.compile(r'time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"((?: \w+=\S+)*)\Z')
_GO_ESCAPE = re.compile(r"\\(.)")
# logrus' colours: debug/trace gray, info blue, warning yellow, error/fatal/panic red
_COLOURS = {"trace": 37, "debug": 37, "info": 36, "warning": 33, "error": 31, "fatal": 31}


def to_terminal(text: str, colours: bool) -> str:
    """``text`` as logrus prints it on a terminal (TextFormatter.printColored).

    ``LEVL[SSSS] msg`` with the level cut to 4 capitals, seconds since start, the message
    unquoted (its newlines real) and padded with ``%-44s ``, then `` key=value`` fields; with
    ``colours`` the level and each key are wrapped in ANSI codes. Other lines are kept.
    """
    out = []
    for number, line in enumerate(text.split("\n")):
        match = _LOGRUS_LINE.match(line)
        if match is None:
            out.append(line)
            continue
        level, quoted, fields = match.groups()
        msg = _GO_ESCAPE.sub(lambda e: "\n" if e.group(1) == "n" else e.group(1), quoted)
        code = _COLOURS[level]
        head = level.upper()[:4]
        pairs = [field.split("=", 1) for field in fields.split()]
        if colours:
            head = f"\x1b[{code}m{head}\x1b[0m"
            tail = "".join(f" \x1b[{code}m{key}\x1b[0m={value}" for key, value in pairs)
        else:
            tail = "".join(f" {key}={value}" for key, value in pairs)
        out.append(f"{head}[{number // 50:04d}] {msg:<44} {tail}")
    return "\n".join(out)


Source = Union[str, Sequence[str]]  # a recorded fixture's name, or the lines of a log


def log_text(source: Source, drop: Optional[str] = None) -> str:
    """The log: a fixture (without its lines containing ``drop``) or lines joined."""
    if isinstance(source, str):
        text = read_fixture(source)
        if drop is None:
            return text
        return "\n".join(line for line in text.splitlines() if drop not in line)
    return "\n".join(source)


@dataclass(frozen=True)
class Log:
    source: Source
    exit_code: Optional[int]
    killed: bool = False
    drop: Optional[str] = None

    def parsed(self) -> PullLog:
        return parse_pull_log(
            log_text(self.source, self.drop), exit_code=self.exit_code, killed=self.killed
        )


def _tried(attempts: Any) -> list[tuple[str, str, Optional[str]]]:
    return [(a.location, a.outcome, a.reason) for a in attempts]


# Views of a result beyond its own fields: attempts as (location, outcome, reason).
_VIEWS: dict[str, Callable[[PullLog], object]] = {
    "tried": lambda result: _tried(result.attempts),
    "outcomes": lambda result: [a.outcome for a in result.attempts],
    "messages": lambda result: [a.message for a in result.attempts],
    "earlier_tried": lambda result: [_tried(rnd) for rnd in result.earlier_rounds],
}


def case(
    name: str,
    source: Source,
    exit_code: Optional[int],
    *,
    killed: bool = False,
    drop: Optional[str] = None,
    **want: object,
) -> Any:  # a pytest.param
    """A row: the log and the fields (PullLog's, or a view: tried, outcomes, messages,
    earlier_tried) its parse must have; fields not named are not checked."""
    return pytest.param(Log(source, exit_code, killed, drop), want, id=name)


def seen(log: Log, want: dict[str, object]) -> dict[str, object]:
    """The fields named in ``want`` of what the parser made of ``log``."""
    result = log.parsed()
    return {
        field: _VIEWS[field](result) if field in _VIEWS else getattr(result, field)
        for field in want
    }
