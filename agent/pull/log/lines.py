"""Raw log text to logrus messages, one logical line each.

Both logrus formats are read: ``time="…" level=debug msg="…"`` (stderr not a terminal) and
the terminal one, ``DEBU[0000] …`` (message unquoted, continued on the next lines when it
holds newlines, often wrapped in ANSI colour codes, which are dropped everywhere), as pasted
from an ``oc debug`` session; both give the same messages. So do logrus' JSON formatter,
CRLF line ends and a journal prefix (``Nov 25 10:00:00 node crio[1]: …``, whose timestamp
and identifier are kept). podman's own plain stderr (``Error: …`` with its continuation
lines, progress lines such as ``Copying blob``) is passed on as :class:`PlainStderr`; the
lines that show a manifest was read as :class:`Progress`; the kubelet's ``Failed to pull
image`` as :class:`KubeletPullError`. What pasting adds (journal prefixes in any format,
cut marks, quoting) comes off first (:mod:`.decor`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Optional, Union

from agent.pull.log.decor import Decorated, journal_prefix, undecorate
from agent.reference import DIGEST_PATTERN

__all__ = [
    "KubeletPullError",
    "Line",
    "LogMessage",
    "NewRun",
    "PlainStderr",
    "Progress",
    "logical_lines",
    "plain_text",
]

_LOGRUS = re.compile(
    r"(?:(?<=\s)|^)(?:time=(?:\"(?P<tq>[^\"]{0,80})\"|(?P<tu>\S{1,80}))\s+)?"
    r"level=(?P<level>[A-Za-z]+)\s+msg="
)
# logrus on a terminal (TextFormatter, colours on): `DEBU[0000] message` — level cut to 4
# capitals (whole with DisableLevelTruncation), seconds since start or a full timestamp in
# brackets, then the message raw (unquoted, real newlines) padded to 44 columns. The colour
# codes around the level may survive a copy as `[36m`/`[0m` without their ESC byte.
_TERMINAL = re.compile(
    r"(?<!\S)(?:\[\d{1,3}(?:;\d{1,3})*m)?"
    r"(?P<level>PANIC?|FATAL?|ERROR?|WARN(?:ING)?|INFO|DEBUG?|TRACE?)(?:\[0m)?"
    r"\[(?P<time>\d[^\]]{0,63})\] ?"
)
_TERMINAL_LEVELS = {
    "PANI": "panic",
    "FATA": "fatal",
    "ERRO": "error",
    "WARN": "warning",
    "INFO": "info",
    "DEBU": "debug",
    "TRAC": "trace",
}
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def plain_text(text: str) -> str:
    """``text`` without ANSI colour codes and with ``\n`` line ends, as a log pasted from a
    terminal session needs before anything else searches it."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return text.replace("\r\n", "\n")


_QUOTED = re.compile(r"\"([^\"\\]*(?:\\.[^\"\\]*)*)", re.DOTALL)
_UNQUOTED = re.compile(r"\S*")
_ESCAPE = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|(.))", re.DOTALL
)
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}

_PODMAN_PLAIN_LINES = (
    "Trying to pull ",
    'Resolved "',  # `Resolved "X" as an alias (FILE)`: a short name's alias
    "Pull failed. Retrying ",  # the bootstrap's release-image-download.sh, between podman runs
    "Getting image source signatures",
    "Writing manifest to image destination",
    "Storing signatures",
    "Copying blob ",
    "Copying config ",
)
# Plain stderr lines of podman: they end a terminal-format message's continuation.
_PODMAN_STDERR_LINES = ("Error: ", *_PODMAN_PLAIN_LINES)


def _unescape(text: str) -> str:
    """Undo Go's ``%q`` quoting (what logrus applies to ``msg``)."""
    if "\\" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        hex2, hex4, hex8, octal, char = match.groups()
        code: Optional[int] = None
        if hex2 is not None:
            code = int(hex2, 16)
            if code >= 0x80:  # Go escapes only bytes that are not valid UTF-8 this way
                return "\ufffd"
        elif hex4 is not None:
            code = int(hex4, 16)
        elif hex8 is not None:
            code = int(hex8, 16)
        elif octal is not None:
            code = int(octal, 8)
        if code is not None:
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                return "\ufffd"
            return chr(code)
        return _SIMPLE_ESCAPES.get(char, match.group(0))

    return _ESCAPE.sub(replace, text)


@dataclass(frozen=True)
class LogMessage:
    """One logrus entry: its level (lower case, ``warning`` not ``warn``) and message."""

    level: str
    msg: str
    time: Optional[str]  # journal prefix timestamp if any, else logrus time=
    ident: Optional[str]  # journal identifier (syslog tag), e.g. "crio"
    terminal: bool = False  # logrus terminal format: the message may go on for more lines


@dataclass(frozen=True)
class PlainStderr:
    """podman's own stderr: an ``Error: …`` block (lines up to the next logrus entry, trailing
    empty ones dropped) when ``is_error``, else one progress line (``Copying blob …``)."""

    text: str
    is_error: bool


def _terminal_message(line: str, match: re.Match[str]) -> LogMessage:
    stamp: Optional[str] = match.group("time")
    if stamp is not None and stamp.isdigit():
        stamp = None  # seconds since the tool started, not a point in time
    journal_ts, ident = journal_prefix(line[: match.start()])
    return LogMessage(
        _TERMINAL_LEVELS.get(match.group("level")[:4], ""),
        line[match.end() :].rstrip(" "),  # the padding to 44 columns
        journal_ts or stamp,
        ident,
        terminal=True,
    )


def _parse_message(line: str) -> Optional[LogMessage]:
    """The logrus (text, terminal or JSON formatter) message of a line; None if not logrus.

    The text formatter's quoted ``msg`` is unescaped; a terminal-format message is the rest
    of the line (the caller joins its continuation lines).
    """
    terminal = _TERMINAL.match(line)  # first: a raw message may quote `level=… msg=`
    if terminal is not None:
        return _terminal_message(line, terminal)
    match = _LOGRUS.search(line)
    if match is not None:
        position = match.end()
        if line.startswith('"', position):
            quoted = _QUOTED.match(line, position)
            msg = _unescape(quoted.group(1)) if quoted is not None else ""
        else:
            unquoted = _UNQUOTED.match(line, position)
            msg = unquoted.group(0) if unquoted is not None else ""
        journal_ts, ident = journal_prefix(line[: match.start()])
        return LogMessage(
            match.group("level").lower(),
            msg,
            journal_ts or match.group("tq") or match.group("tu"),
            ident,
        )
    terminal = _TERMINAL.search(line) if "[" in line else None  # after a prompt, `ts` …
    if terminal is not None:
        return _terminal_message(line, terminal)
    brace = line.find("{")
    if brace < 0 or '"msg"' not in line:
        return None
    try:
        record = json.loads(line[brace:])
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("msg"), str):
        return None
    level = record.get("level")
    stamp = record.get("time")
    journal_ts, ident = journal_prefix(line[:brace])
    return LogMessage(
        level.lower() if isinstance(level, str) else "",
        record["msg"],
        journal_ts or (stamp if isinstance(stamp, str) else None),
        ident,
    )


def _starts_log_line(line: str) -> bool:
    """Does the line start a logrus entry (so it continues no earlier message)?"""
    return line.startswith(("time=", "level=")) or _TERMINAL.match(line) is not None


def _may_go_on(message: LogMessage) -> bool:
    """Is the text of this message kept (so its continuation lines matter)?

    On a terminal logrus prints a message's newlines as they are: skopeo's fatal
    ``(Mirrors also failed: [R1: E1]\\n[R2: E2]): …`` spans lines; so may an error after
    ``Accessing "R" failed:``. Other messages are used by their first line only.
    """
    text = message.msg.lstrip()
    return message.level in ("fatal", "panic") or text.startswith(
        ("Accessing ", "Failed, retrying")
    )


def _joined(message: LogMessage, lines: list[str]) -> LogMessage:
    """``message`` with its continuation lines, without the padding and trailing empty lines."""
    if not lines:
        return message
    text = "\n".join([message.msg, *lines]).rstrip()
    return replace(message, msg=text)


def _error_block(lines: list[str]) -> PlainStderr:
    while lines and not lines[-1].strip():
        lines.pop()
    return PlainStderr("\n".join(lines), is_error=True)


_COMPOSE_EXIT = re.compile(r"exit code: -?\d+\Z")  # podman-compose, after each command
_IMAGE_ID = re.compile(r"[0-9a-f]{64}\Z")
# A prompt after the output: the error block ends there.
_PROMPT = re.compile(r"(?:\[[^\]]*\]|[\w.-]+@[\w.:~/-]+|[\w.-]+)?[$#](?: |\Z)")
# A prompt that runs podman or skopeo again: another run of the tool starts.
_TOOL_COMMAND = re.compile(
    r"(?:\[[^\]]{0,200}\]|[\w.-]{1,100}@[\w.:~/-]{1,200}|[\w.-]{1,100})?[$#] +"
    r"(?:sudo +)?(?:podman|skopeo)\b"
)
# The kubelet's report of a failed pull, as an event (``oc describe``, ``oc get events``,
# JSON), or in its own journal (klog: ``"PullImage from image service failed" err="…"
# image="X"``).
_EVENT = re.compile(r"Failed to pull image (\\?)\"(?P<image>[^\"\\\s]+)\1\": (?P<error>.*)")
_KLOG_PULL = re.compile(
    r"\"PullImage from image service failed\" err=(?P<error>\"(?:[^\"\\]|\\.)*\")"
)
_KLOG_IMAGE = re.compile(r" image=\"(?P<image>[^\"\\\s]+)\"")
# skopeo's stdout after a manifest was read: the raw manifest, or inspect's JSON (its
# digest of any algorithm the reference grammar accepts).
_MANIFEST_JSON = re.compile(
    rf"^(?:\{{\s*\"(?:schemaVersion|mediaType|manifests)\"|\s*\"Digest\": \"(?:{DIGEST_PATTERN})\")"
)


@dataclass(frozen=True)
class KubeletPullError:
    """The kubelet saying a pull failed: the image and CRI-O's error text."""

    image: str
    error: str
    time: Optional[str]


@dataclass(frozen=True)
class NewRun:
    """Another run of the tool starts: a journal line of a new process of a program seen
    before (same identifier, another PID: a script or unit running it again), or a shell
    prompt running podman or skopeo."""

    ident: str


@dataclass(frozen=True)
class Progress:
    """A line a tool prints only once a source served the manifest (``Copying blob``, an
    image ID on stdout, skopeo's JSON); ``complete``: the pull or inspection finished."""

    text: str
    complete: bool


_COMPLETE_LINES = ("Writing manifest to image destination", "Storing signatures")
_MANIFEST_LINES = ("Getting image source signatures", "Copying blob ", "Copying config ")


def _kubelet_error(text: str, time: Optional[str]) -> Optional[KubeletPullError]:
    match = _EVENT.search(text)
    if match is not None:
        error = match.group("error")
        if match.group(1):  # inside a quoted (JSON, klog) string: up to its end
            quoted = _QUOTED.match('"' + error)
            error = _unescape(quoted.group(1)) if quoted is not None else error
        return KubeletPullError(match.group("image"), error.rstrip(), time)
    match = _KLOG_PULL.search(text)
    image = _KLOG_IMAGE.search(text)
    if match is None or image is None:
        return None
    return KubeletPullError(image.group("image"), _unescape(match.group("error")[1:-1]), time)


Line = Union[LogMessage, PlainStderr, KubeletPullError, Progress, NewRun]
_PLAIN_LOGRUS = Decorated("", None, None, cut=False)


def logical_lines(
    text: str, keywords: tuple[str, ...], position: Optional[list[int]] = None
) -> Iterator[Line]:
    """The logrus messages of ``text`` and podman's plain stderr, in order, in one pass.

    A line is parsed as logrus only when it contains one of ``keywords`` (the rest is
    skipped fast). A terminal-format message whose text matters (a fatal error, an
    ``Accessing … failed``, a retry warning) takes its continuation lines with it, up to the
    next logrus entry or podman stderr line; an ``Error:`` block goes on up to the next
    logrus entry, podman stderr line, blank line or shell prompt (on a journal: up to a line
    of another identifier). Journal prefixes, quoting and cut marks come off first
    (:mod:`.decor`); the kubelet's ``Failed to pull image`` events and the lines that show
    a manifest was read (:class:`Progress`) are passed on too. ``position`` (a one-item
    list), when given, holds the index of the raw line being read when a line is yielded.
    """
    error_lines: Optional[list[str]] = None  # podman's `Error:` block being collected
    error_ident: Optional[str] = None  # the journal identifier of its first line
    held: Optional[LogMessage] = None  # a terminal-format message that may go on
    held_lines: list[str] = []  # its continuation lines
    pids: dict[str, str] = {}  # journal identifier: the PID of its latest line
    for number, line in enumerate(text.split("\n")):
        if position is not None:
            position[0] = number
        if line.endswith("\r"):
            line = line[:-1]
        if "\x1b" in line:  # colours of a terminal session (`script`, `oc debug` capture)
            line = _ANSI.sub("", line)
        # logrus' own lines (most of a debug log) carry no decoration: skip the work
        pasted = _PLAIN_LOGRUS if line.startswith("time=") else undecorate(line)
        body = line if pasted is _PLAIN_LOGRUS else pasted.text
        new_process = (
            pasted.pid is not None
            and pasted.ident is not None
            and pids.setdefault(pasted.ident, pasted.pid) != pasted.pid
        )
        if new_process and pasted.ident is not None and pasted.pid is not None:
            pids[pasted.ident] = pasted.pid
        if new_process or _TOOL_COMMAND.match(body):
            if error_lines is not None:  # the previous run's error ends here
                yield _error_block(error_lines)
                error_lines = None
            if held is not None:
                yield _joined(held, held_lines)
                held, held_lines = None, []
            yield NewRun(pasted.ident or "shell")
        if error_lines is not None:
            if _continues_error(body, pasted.ident, error_ident):
                error_lines.append(body)
                continue
            yield _error_block(error_lines)
            error_lines = None
        if held is not None:
            if not (_starts_log_line(body) or body.startswith(_PODMAN_STDERR_LINES)):
                held_lines.append(body if pasted.ident is not None else line)
                continue
            yield _joined(held, held_lines)
            held = None
            held_lines = []
        if body.startswith("Error: "):
            error_lines = [body]
            error_ident = pasted.ident
            continue
        if body.startswith(_PODMAN_PLAIN_LINES):
            if body.startswith(_MANIFEST_LINES + _COMPLETE_LINES):
                yield Progress(body, complete=body.startswith(_COMPLETE_LINES))
            yield PlainStderr(body, is_error=False)
            continue
        if _IMAGE_ID.match(body) or _MANIFEST_JSON.match(body):
            yield Progress(body, complete=True)
            continue
        if "ailed to pull image" in body or "PullImage from image service failed" in body:
            event = _kubelet_error(body, pasted.time)
            if event is not None:
                yield event
                continue
        if not any(keyword in line for keyword in keywords):
            continue
        message = _parse_message(line)
        if message is None:
            continue
        if message.terminal and _may_go_on(message):
            held = message
            continue
        yield message
    if held is not None:
        yield _joined(held, held_lines)
    if error_lines is not None:
        yield _error_block(error_lines)


def _continues_error(body: str, ident: Optional[str], error_ident: Optional[str]) -> bool:
    """Does a line go on with the ``Error:`` block being read?"""
    if ident != error_ident or not body.strip():
        return False
    if _starts_log_line(body) or body.startswith(_PODMAN_STDERR_LINES):
        return False
    return _PROMPT.match(body) is None and _COMPOSE_EXIT.match(body) is None
