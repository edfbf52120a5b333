"""agent.pull.log.lines: every form of the same log gives the same messages.

logrus' text format (``time=… level=… msg="…"``), its terminal format (``DEBU[0000] …``, as
pasted from an ``oc debug`` session, with or without colours), CRLF copies, journal
prefixes and JSON lines.
"""

from __future__ import annotations

from typing import Callable

import pytest

from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.lines import plain_text
from agent.pull.log.model import Attempt
from agent.pull.log.podman import parse_pull_log
from tests.unit.pull_log.recorded import (
    EXPECTED,
    check_expected,
    fixture_names,
    parse_fixture,
    read_fixture,
)
from tests.unit.pull_log.synthetic import MIRROR, QUAY, Log, case, logrus, seen, to_terminal


def test_to_terminal_writes_what_logrus_writes() -> None:
    text = "\n".join(
        [
            logrus("podman filtering at log level debug", "info"),
            logrus('Received shutdown signal "terminated", terminating!', "info") + " PID=19144",
            logrus("Error parsing image name: a\nb", "fatal"),
            "Trying to pull x...",
        ]
    )
    assert to_terminal(text, colours=False).split("\n") == [
        "INFO[0000] podman filtering at log level debug          ",
        'INFO[0000] Received shutdown signal "terminated", terminating!  PID=19144',
        "FATA[0000] Error parsing image name: a",
        "b" + " " * 16,  # the message is padded to 44 characters, newline included
        "Trying to pull x...",
    ]
    assert to_terminal(text, colours=True).split("\n")[1] == (
        '\x1b[36mINFO\x1b[0m[0000] Received shutdown signal "terminated", terminating!  '
        "\x1b[36mPID\x1b[0m=19144"
    )
    for name in fixture_names():  # every logrus line of every fixture is rewritten
        for colours in (False, True):
            terminal = to_terminal(read_fixture(name), colours)
            assert not any(line.startswith("time=") for line in terminal.split("\n")), name


FORMS: dict[str, Callable[[str], str]] = {
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "terminal": lambda text: to_terminal(text, colours=False),
    "terminal-ansi": lambda text: to_terminal(text, colours=True),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_other_forms_give_the_same_result(name: str, form: str) -> None:
    text = read_fixture(name)
    other = FORMS[form](text)
    result = parse_fixture(name, other)
    assert result == parse_fixture(name)  # attempts, outcomes, reasons, messages, error …
    check_expected(result, EXPECTED[name])  # so that a reader ignoring both cannot pass
    for exit_code in (None, 0, 125):
        assert parse_pull_log(other, exit_code=exit_code) == parse_pull_log(
            text, exit_code=exit_code
        )
    # read as a journal: the same attempts (the time differs: `[0000]` is no point in time)
    assert [pull.attempts for pull in parse_crio_journal(other)] == [
        pull.attempts for pull in parse_crio_journal(text)
    ]


TRY = f'Trying to access "{MIRROR}"'
FAIL = f'Accessing "{MIRROR}" failed: pinging container registry mirror.example.com:5000: x'
SERVED = f'DEBU[0001] Trying to access "{QUAY}"'
MIRROR_FAILED_QUAY_SERVED = {
    "tried": [(MIRROR, "failed", "other"), (QUAY, "served", None)],
    "messages": ["pinging container registry mirror.example.com:5000: x", None],
}


@pytest.mark.parametrize(
    ("log", "want"),
    [
        case(
            "Go-quoted messages are unescaped",
            [
                logrus('Trying to access "h/r@sha256:1"'),
                'time="t" level=debug msg="Accessing \\"h/r@sha256:1\\" failed: a\\tb \\\\ '
                '\\u00e9 \\x41 \\xff \\101 \\q \\"q\\""',
            ],
            1,
            messages=['a\tb \\ é A \ufffd A \\q "q"'],
        ),
        case(
            "unquoted and journal-prefixed logrus lines",
            [
                "level=debug msg=Using-registries.d",
                'Nov 25 10:00:00 node-1 podman[77]: time="x" level=debug '
                'msg="Trying to access \\"a/b:c\\""',
            ],
            0,
            attempts=(Attempt("a/b:c", "served"),),
        ),
        case(
            "terminal: full timestamp, level not truncated",
            [f"DEBUG[2026-11-25T20:26:46Z] {TRY}", f"DEBUG[2026-11-25T20:26:46Z] {FAIL}", SERVED],
            0,
            **MIRROR_FAILED_QUAY_SERVED,
        ),
        case(
            "terminal: colour codes whose ESC byte was lost in the copy",
            [f"[37mDEBU[0m[0000] {TRY}", f"[37mDEBU[0m[0001] {FAIL}", SERVED],
            0,
            **MIRROR_FAILED_QUAY_SERVED,
        ),
        case(
            "terminal: a `ts` prefix or a shell prompt before the entry",
            [f"00:00:00.018229 DEBU[0000] {TRY}", f"sh-5.1# DEBU[0000] {FAIL}", SERVED],
            0,
            **MIRROR_FAILED_QUAY_SERVED,
        ),
        case(
            "terminal: stray ANSI codes inside the line (bold, erase line), CRLF",
            [
                f'\x1b[37mDEBU\x1b[0m[0000] Trying to access "\x1b[1m{MIRROR}\x1b[0m"\x1b[K\r',
                f"\x1b[37mDEBU\x1b[0m[0000] \x1b[1m{FAIL}\x1b[0m\r",
                SERVED,
            ],
            0,
            **MIRROR_FAILED_QUAY_SERVED,
        ),
        case(
            "terminal: multi-line messages and final error",
            [
                f'DEBU[0000] Trying to access "{MIRROR}"                      ',
                f'DEBU[0030] Accessing "{MIRROR}" failed: reading manifest in mirror: first line',
                "second line: unauthorized: authentication required                  ",
                f'DEBU[0030] Trying to access "{QUAY}"',
                f'DEBU[0031] Accessing "{QUAY}" failed: reading manifest: manifest unknown ',
                "Error: initializing source docker://quay.io/team/app: (Mirrors also failed: "
                "[m: e]",
                "[n: f]): quay.io/team/app: g",
            ],
            125,
            tried=[(MIRROR, "failed", "unauthorized"), (QUAY, "failed", "manifest-unknown")],
            messages=[
                "reading manifest in mirror: first line\n"
                "second line: unauthorized: authentication required",
                "reading manifest: manifest unknown",
            ],
            final_error="Error: initializing source docker://quay.io/team/app: (Mirrors also "
            "failed: [m: e]\n[n: f]): quay.io/team/app: g",
        ),
        case(
            "terminal: the `Error:` block ends at the next entry, as at a `time=` one",
            ["Error: boom", "more", "INFO[0001] Received shutdown signal"],
            None,
            final_error="Error: boom\nmore",
            shutdown=True,
        ),
        case(
            "terminal look-alikes: a `level=` line quoting an entry, `WARN[` without a digit",
            [
                logrus(f'Trying to access "{MIRROR}"'),
                'time="t" level=debug msg="child said: DEBU[0000] Trying to access \\"x/y:z\\""',
                f'WARN[abcd] Trying to access "{QUAY}"',
                f'XDEBU[0000] Trying to access "{QUAY}"',
            ],
            0,
            attempts=(Attempt(MIRROR, "served"),),
        ),
    ],
)
def test_lines(log: Log, want: dict[str, object]) -> None:
    assert seen(log, want) == want


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("", ""),
        ("a\r\nb\r\n", "a\nb\n"),
        ("\x1b[37mDEBU\x1b[0m[0000] Trying\x1b[K", "DEBU[0000] Trying"),
        ("lone \r stays", "lone \r stays"),
    ],
)
def test_plain_text(text: str, plain: str) -> None:
    assert plain_text(text) == plain
