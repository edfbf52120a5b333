"""Read the debug log of an image pull: which sources were tried, in order, and why each failed.

Input is the combined stdout+stderr of ``podman pull --log-level=debug REF`` or
``skopeo --debug inspect --raw docker://REF``, or an excerpt of ``journalctl -u crio``.
Both logrus formats are read: ``time="…" level=debug msg="…"`` (stderr not a terminal) and
the terminal one, ``DEBU[0000] …`` (message unquoted, continued on the next lines when it
holds newlines, often wrapped in ANSI colour codes, which are dropped everywhere), as pasted
from an ``oc debug`` session; both give the same result.
The lines that matter (docs/pull-resolution.md §3) come from containers/image and have not
changed since 2021:

* ``Trying to access "R"`` starts an attempt on source R (a mirror or the source itself);
* ``Accessing "R" failed: E`` ends it with error E; an attempt without that line is the one
  that served the image (rc 0), or the one the pull hung at (the tool was killed);
* ``Failed, retrying in … (n/m). Error: …`` (podman's retry loop) starts the whole
  candidate list again: only the round after the last such warning decides;
* the final error is podman's plain-stderr ``Error: …`` (continuation lines included) or
  skopeo's ``level=fatal msg="…"``; with several candidates it reads
  ``(Mirrors also failed: [R1: E1]\\n[R2: E2]): PRIMARY: E``.

Everything else is ignored, in particular the look-alikes: ``Trying "X" ...`` (local storage
lookup), ``Trying to pull X...`` (one per short-name candidate, plain stderr),
``Ping … status 401`` (a 401 ping is normal), ``Content-Type from manifest GET`` (logged
before the status check), ``GET`` lines, ``Attempting to pull candidate``,
``Error pulling candidate`` and the retry warning's own copy of the error.

CRI-O logs only ``Trying to access`` at info level (``Accessing … failed`` is debug), between
``Pulling image: X`` and ``Pulled image: Y``; :func:`parse_crio_journal` groups those lines
into pulls. Limitation: CRI-O's own ``Trying to access`` lines carry no request id, so pulls
that run at the same time are told apart only by the digest/tag and the repository of the
location: an attempt goes to the open pull of its digest/tag whose image or earlier attempts
share the most trailing repository path components with it (mirrors keep the path below
the rewritten prefix), so concurrent pulls of different repositories with the same tag or
digest separate when their mirror paths keep the repository name; two concurrent pulls of
the same reference, or mirror paths unrelated to both sources, cannot be separated. Without
``Pulling image`` lines, a location tried a second time starts a new pull, so older CRI-O's
double walk of the candidate list appears as two pulls.

Pure code: standard library only, no I/O; never raises on any input; linear in the input.
Every error text kept (``Attempt.message``, ``PullLog.final_error``) goes through
:func:`redact`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Optional

__all__ = [
    "OUTCOMES",
    "REASONS",
    "TOOLS",
    "Attempt",
    "JournalPull",
    "PullLog",
    "classify_failure",
    "parse_crio_journal",
    "parse_error_sources",
    "parse_pull_log",
    "plain_text",
    "redact",
]

REASONS = (
    "connection-refused",
    "dns",
    "tls",
    "timeout",
    "unauthorized",
    "forbidden",
    "manifest-unknown",
    "blocked",
    "http-to-https",
    "other",
)
OUTCOMES = ("failed", "served", "hung", "unfinished")
TOOLS = ("podman", "skopeo", "crio", "unknown")

REDACTED = "REDACTED"


@dataclass(frozen=True)
class Attempt:
    """One ``Trying to access "location"``, with what became of it."""

    location: str  # exactly the string inside Trying to access "..."
    outcome: str  # "failed" | "served" | "hung" | "unfinished"
    reason: Optional[str] = None  # one of REASONS when outcome == "failed"
    message: Optional[str] = None  # the error text after `failed: `, unescaped, redacted


@dataclass(frozen=True)
class PullLog:
    """What one pull log says about the resolution of one reference."""

    tool: str  # "podman" | "skopeo" | "crio" | "unknown"
    attempts: tuple[Attempt, ...]  # the last retry round: the one that decides
    rounds: int  # 1 + number of `Failed, retrying in ...` warnings
    earlier_rounds: tuple[tuple[Attempt, ...], ...]
    config_files: tuple[str, ...]  # `Loading registries configuration "..."`, unique, in order
    final_error: Optional[str]  # podman's `Error: ...` (all lines) or skopeo's fatal msg, redacted
    final_error_sources: tuple[tuple[str, str], ...]  # (ref, err) per source, primary last
    shutdown: bool  # `Received shutdown signal` seen (the tool was terminated)
    served_by: Optional[str]  # location of the attempt with outcome "served", else None


@dataclass(frozen=True)
class JournalPull:
    """One image pull found in a CRI-O journal."""

    image: str  # what was requested (Pulling image / Checking image status), else 1st location
    attempts: tuple[Attempt, ...]  # in order
    pulled: Optional[str]  # the `Pulled image: ...` value when present
    time: Optional[str]  # timestamp text of the first line of this pull


# --------------------------------------------------------------------------------------
# failure classes


_DNS = re.compile(
    r"no such host|server misbehaving|temporary failure in name resolution"
    r"|name or service not known|no address associated with hostname"
    r"|\blookup \S+ on \S+:53\b|\bdial (?:tcp|udp)[46]?: lookup "
    r"|\blookup \S+: (?:i/o timeout|read |dial |write )"
)
_TIMEOUT = re.compile(
    r"i/o timeout|tls handshake timeout|context deadline exceeded|client\.timeout"
    r"|deadline exceeded|timeout awaiting response headers|connection timed out"
    r"|operation timed out"
)
_TLS = re.compile(r"x509|certificate|\btls:")
# A dotted lower-case host (or IP) with its repository path; its port stays (`lookup h on
# ip:53`). Case-sensitive: Go's own dotted words (`Client.Timeout`) are capitalised.
_LOCATION = re.compile(r"\b(?:[a-z0-9-]+\.)+[a-z0-9-]+(?P<port>:\d+)?(?P<path>/[^\s\"',;]*)?")


def _masked_location(match: re.Match[str]) -> str:
    return "HOST" if match.group("path") else "HOST" + (match.group("port") or "")


_UNAUTHORIZED = re.compile(
    r"unauthorized|authentication required|invalid username/password"
    r"|incorrect username or password|unable to retrieve auth token"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*401\b"
    r"|\b401 \(?unauthorized"
)
_FORBIDDEN = re.compile(
    r"forbidden|(?<!permission )\bdenied\b"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*403\b"
)
_MANIFEST_UNKNOWN = re.compile(
    r"manifest unknown|name unknown|manifest_unknown|name_unknown"
    r"|repository name not known to registry"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*404\b"
    r"|\b404 \(?not found"
)


def classify_failure(message: str) -> str:
    """The class (one of :data:`REASONS`) of an ``Accessing "R" failed: …`` error text.

    Case-insensitive; knows podman 4.3 wording and newer/older variants (4.4+ un-doubled
    errcodes, Go ≥1.20 ``tls: failed to verify certificate:``, 5.5+ ``received unexpected
    HTTP status:``, pre-2021 ``Error reading manifest``/``error pinging docker registry``).
    Given a whole ``(Mirrors also failed: …): PRIMARY: E`` error, classifies E.
    """
    sources = parse_error_sources(message) if "Mirrors also failed" in message else ()
    if sources:
        message = sources[-1][1]
    # Host names and repository paths are not the error: a registry called
    # certificate-mirror.example or a repository team/access-denied must not decide it.
    text = _LOCATION.sub(_masked_location, message).lower()
    if "is blocked in" in text:
        return "blocked"
    if "server gave http response to https client" in text:
        return "http-to-https"
    if _DNS.search(text):  # before timeout/refused: a DNS lookup can time out or be refused
        return "dns"
    if "connection refused" in text:
        return "connection-refused"
    if _TIMEOUT.search(text):  # before tls: "net/http: TLS handshake timeout"
        return "timeout"
    if _TLS.search(text):
        return "tls"
    if _UNAUTHORIZED.search(text):
        return "unauthorized"
    if _FORBIDDEN.search(text):
        return "forbidden"
    if _MANIFEST_UNKNOWN.search(text) or ("reading manifest" in text and "not found" in text):
        return "manifest-unknown"
    return "other"


# --------------------------------------------------------------------------------------
# redaction

_TOKEN_CHARS = r"[A-Za-z0-9+/=._~-]"
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-registry-auth)"  # header name
    r"(\\?[\"']?\s*[:=]\s*(?:\[\s*)?\\?[\"']?\s*)"  # separator: `: `, `":"`, `:[`
    r"(?:((?:basic|bearer|negotiate|digest|token)\s+)([^\s\"'\\\],;]+)"  # scheme + value
    rf"|({_TOKEN_CHARS}{{8,}}))"  # or a bare credential-looking value
)
_SCHEME_VALUE = re.compile(rf"(?i)\b(bearer|basic)(\s+)({_TOKEN_CHARS}{{8,}})")
_JSON_SECRET = re.compile(
    r"(?i)(\\?\"(?:password|passwd|token|access_token|refresh_token|id_token|identitytoken"
    r"|identity_token|registrytoken|registry_token|auth|secret|client_secret)\\?\"\s*:\s*\\?\")"
    r"([^\"\\]+)"
)
_QUERY_SECRET = re.compile(
    r"(?i)(?<![\w-])(password|passwd|token|access_token|refresh_token|id_token"
    r"|identitytoken|registrytoken|client_secret|secret)=([^&\s\"'\\,;]+)"
)
# The password ends at the last "@" before the host (an unencoded "@" in it is common).
_URL_USERINFO = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^/\s:@\"'\\]+:)([^/\s\"'\\]+)@(?=[^@/\s\"'\\]*(?:[/\s\"'\\]|$))"
)
# Command lines pasted with a log: skopeo/podman --creds, --password, --registry-token
# (also --src-/--dest- forms) and `podman login … -p`.
_CREDS_FLAG = re.compile(r"(--(?:src-|dest-)?creds[= ]+[^:\s]+:)(\S+)")
_SECRET_FLAG = re.compile(
    r"((?:--(?:src-|dest-)?(?:password|registry-token)|(?<=\blogin\b)[^\n]*?\s-p)[= ]+)(\S+)"
)


def _redact_header(match: re.Match[str]) -> str:
    if match.group(3) is not None:
        return match.group(1) + match.group(2) + match.group(3) + REDACTED
    return match.group(1) + match.group(2) + REDACTED


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``REDACTED``; everything else left readable.

    Covers ``Authorization``/``Proxy-Authorization``/``X-Registry-Auth`` header values
    (``Basic``/``Bearer`` schemes kept), bare ``Bearer``/``Basic`` credentials, secrets in
    query strings (``password=``, ``token=``, ``access_token=``, ``refresh_token=`` …) and
    in JSON (``"password"``, ``"token"``, ``"auth"`` …, also with ``\\"`` escaped quotes),
    ``user:password@`` in URLs (up to the last ``@`` before the host), and on pasted
    command lines ``--creds user:password``, ``--password``, ``--registry-token`` (also their
    ``--src-``/``--dest-`` forms) and ``podman login … -p``.
    """
    if not text:
        return text
    text = _HEADER.sub(_redact_header, text)
    text = _SCHEME_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _JSON_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + "=" + REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _CREDS_FLAG.sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRET_FLAG.sub(lambda m: m.group(1) + REDACTED, text)


# --------------------------------------------------------------------------------------
# the final error's sources

_MIRRORS_ALSO_FAILED = "(Mirrors also failed: "
_REF_COLON = re.compile(r"(\S+?): ")  # a reference never contains spaces, ": " ends it
_GROUP_SEPARATOR = re.compile(r"\]\n\[(?=\S+?: )")
_INITIALIZING_SOURCE = re.compile(r"initializing source (?:docker://)?(\S+?): ", re.IGNORECASE)
_PARSING_IMAGE_NAME = re.compile(
    r"error parsing image name \"(?:docker://)?([^\"\s]+)\": ", re.IGNORECASE
)


def _ref_at(text: str, position: int) -> Optional[re.Match[str]]:
    match = _REF_COLON.match(text, position)
    if match is None or "/" not in match.group(1):
        return None
    return match


def parse_error_sources(error: str) -> tuple[tuple[str, str], ...]:
    """``(ref, err)`` per source named in a containers/image error, primary source last.

    ``(Mirrors also failed: [R1: E1]\\n[R2: E2]): R3: E3`` gives the three pairs (robust to
    ``]`` and ``:`` inside the errors; the ``\\n`` is a real newline). A single-source
    error ``initializing source docker://R: E`` (podman) or ``Error parsing image name
    "docker://R": E`` (skopeo) gives ``((R, E),)``; R is then the *logical* reference.
    Anything else gives ``()``.
    """
    start = error.find(_MIRRORS_ALSO_FAILED)
    if start < 0:
        for pattern in (_INITIALIZING_SOURCE, _PARSING_IMAGE_NAME):
            match = pattern.search(error)
            if match is not None and "/" in match.group(1):
                return ((match.group(1), error[match.end() :]),)
        return ()
    body = start + len(_MIRRORS_ALSO_FAILED)
    if not error.startswith("[", body):
        return ()
    # The groups end at the first "]): " followed by the primary reference.
    search_from = body
    while True:
        end = error.find("]): ", search_from)
        if end < 0:
            return ()
        primary = _ref_at(error, end + 4)
        if primary is not None:
            break
        search_from = end + 1
    pairs: list[tuple[str, str]] = []
    for group in _GROUP_SEPARATOR.split(error[body + 1 : end]):
        match = _ref_at(group, 0)
        if match is None:
            return ()
        pairs.append((match.group(1), group[match.end() :]))
    pairs.append((primary.group(1), error[primary.end() :]))
    return tuple(pairs)


# --------------------------------------------------------------------------------------
# lines

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
_JOURNAL_PREFIX = re.compile(
    r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d{9,}\.\d+)"
    r"\s+(?P<host>\S+)\s+(?P<ident>[^\s\[:]+)(?:\[\d+\])?:\s"
)

# A line is looked at closely only when it contains one of these (the rest is skipped fast).
_KEYWORDS = (
    "Trying to access",
    "Accessing ",
    "retrying",
    "Loading registries configuration",
    "shutdown signal",
    "fatal",
    "FATA",  # terminal format: `FATA[0000] Error parsing image name …`
    "Pulling image",
    "Pulled image",
    "Checking image status",
    "filtering at log level",
    "PersistentPreRunE",
    "Using registries.d",
)
_PODMAN_PLAIN_LINES = (
    "Trying to pull ",
    "Getting image source signatures",
    "Writing manifest to image destination",
    "Storing signatures",
    "Copying blob ",
    "Copying config ",
)
# Plain stderr lines of podman: they end a terminal-format message's continuation.
_PODMAN_STDERR_LINES = ("Error: ", *_PODMAN_PLAIN_LINES)

_TRY = re.compile(r"\s*Trying to access \"([^\"]*)\"\s*\Z")
_FAIL = re.compile(r"\s*Accessing \"([^\"]*)\" failed: (.*)\Z", re.DOTALL)
_CONFIG = re.compile(r"\s*Loading registries configuration \"([^\"]*)\"")
_RETRY = re.compile(r"\s*Failed, retrying in ", re.IGNORECASE)


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
class _Message:
    level: str
    msg: str
    time: Optional[str]  # journal prefix timestamp if any, else logrus time=
    ident: Optional[str]  # journal identifier (syslog tag), e.g. "crio"
    terminal: bool = False  # logrus terminal format: the message may go on for more lines


def _journal_prefix(prefix: str) -> tuple[Optional[str], Optional[str]]:
    match = _JOURNAL_PREFIX.match(prefix)
    if match is None:
        return None, None
    return match.group("ts"), match.group("ident")


def _terminal_message(line: str, match: re.Match[str]) -> _Message:
    stamp: Optional[str] = match.group("time")
    if stamp is not None and stamp.isdigit():
        stamp = None  # seconds since the tool started, not a point in time
    journal_ts, ident = _journal_prefix(line[: match.start()])
    return _Message(
        _TERMINAL_LEVELS.get(match.group("level")[:4], ""),
        line[match.end() :].rstrip(" "),  # the padding to 44 columns
        journal_ts or stamp,
        ident,
        terminal=True,
    )


def _parse_message(line: str) -> Optional[_Message]:
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
        journal_ts, ident = _journal_prefix(line[: match.start()])
        return _Message(
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
    journal_ts, ident = _journal_prefix(line[:brace])
    return _Message(
        level.lower() if isinstance(level, str) else "",
        record["msg"],
        journal_ts or (stamp if isinstance(stamp, str) else None),
        ident,
    )


# --------------------------------------------------------------------------------------
# one pass over the text: the events that matter


def _starts_log_line(line: str) -> bool:
    """Does the line start a logrus entry (so it continues no earlier message)?"""
    return line.startswith(("time=", "level=")) or _TERMINAL.match(line) is not None


def _may_go_on(message: _Message) -> bool:
    """Is the text of this message kept (so its continuation lines matter)?

    On a terminal logrus prints a message's newlines as they are: skopeo's fatal
    ``(Mirrors also failed: [R1: E1]\\n[R2: E2]): …`` spans lines; so may an error after
    ``Accessing "R" failed:``. Other messages are used by their first line only.
    """
    return message.level in ("fatal", "panic") or message.msg.lstrip().startswith("Accessing ")


def _joined(message: _Message, lines: list[str]) -> _Message:
    """``message`` with its continuation lines, without the padding and trailing empty lines."""
    if not lines:
        return message
    text = "\n".join([message.msg, *lines]).rstrip()
    return replace(message, msg=text)


@dataclass(frozen=True)
class _Event:
    kind: str  # try | fail | retry | pulling | pulled | checking
    value: str  # location / image
    message: str = ""  # the error text of a "fail"
    time: Optional[str] = None


class _Scan:
    """Everything :func:`parse_pull_log` and :func:`parse_crio_journal` need, in one pass."""

    def __init__(self, text: str) -> None:
        self.events: list[_Event] = []
        self.config_files: dict[str, None] = {}
        self.shutdown = False
        self.final_error: Optional[str] = None
        self.crio_ident = False
        self.crio_message = False
        self.podman_strong = False
        self.podman_weak = False
        self.skopeo_fatal = False
        self.containers_image = False
        self._scan(text)

    @property
    def tool(self) -> str:
        if self.crio_ident:
            return "crio"
        if self.podman_strong:
            return "podman"
        if self.crio_message:
            return "crio"
        if self.skopeo_fatal:
            return "skopeo"
        if self.podman_weak:
            return "podman"
        if self.containers_image:
            return "skopeo"
        return "unknown"

    def _scan(self, text: str) -> None:
        error_lines: Optional[list[str]] = None  # podman's `Error:` block being collected
        held: Optional[_Message] = None  # a terminal-format message that may go on
        held_lines: list[str] = []  # its continuation lines
        for line in text.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if "\x1b" in line:  # colours of a terminal session (`script`, `oc debug` capture)
                line = _ANSI.sub("", line)
            if error_lines is not None:
                if not _starts_log_line(line):
                    error_lines.append(line)
                    continue
                self._end_error_block(error_lines)
                error_lines = None
            if held is not None:
                if not (_starts_log_line(line) or line.startswith(_PODMAN_STDERR_LINES)):
                    held_lines.append(line)
                    continue
                self._message(_joined(held, held_lines))
                held = None
                held_lines = []
            if line.startswith("Error: "):
                error_lines = [line]
                self.podman_weak = True
                continue
            if line.startswith(_PODMAN_PLAIN_LINES):
                self.podman_weak = True
                continue
            if not any(keyword in line for keyword in _KEYWORDS):
                continue
            message = _parse_message(line)
            if message is None:
                continue
            if message.terminal and _may_go_on(message):
                held = message
                continue
            self._message(message)
        if held is not None:
            self._message(_joined(held, held_lines))
        if error_lines is not None:
            self._end_error_block(error_lines)

    def _end_error_block(self, lines: list[str]) -> None:
        while lines and not lines[-1].strip():
            lines.pop()
        self.final_error = redact("\n".join(lines))

    def _message(self, message: _Message) -> None:
        msg = message.msg
        if message.ident is not None and message.ident.lower().startswith(("crio", "cri-o")):
            self.crio_ident = True
        if message.level == "fatal":
            self.skopeo_fatal = True
            self.final_error = redact(msg)
            return
        if _RETRY.match(msg):  # first: its error text may quote anything
            self.events.append(_Event("retry", ""))
            return
        if "Trying to access" in msg:
            match = _TRY.match(msg)
            if match is not None:
                self.containers_image = True
                self.events.append(_Event("try", match.group(1), time=message.time))
            return
        if "Accessing " in msg:
            match = _FAIL.match(msg)
            if match is not None:
                self.events.append(_Event("fail", match.group(1), match.group(2), message.time))
            return
        if "Loading registries configuration" in msg:
            match = _CONFIG.match(msg)
            if match is not None:
                self.containers_image = True
                self.config_files.setdefault(match.group(1))
            return
        if "Received shutdown signal" in msg:
            self.shutdown = True
            return
        stripped = msg.strip()
        for prefix, kind in (
            ("Pulling image: ", "pulling"),
            ("Pulled image: ", "pulled"),
            ("Checking image status: ", "checking"),
        ):
            if stripped.startswith(prefix):
                self.crio_message = True
                self.events.append(_Event(kind, stripped[len(prefix) :].strip(), time=message.time))
                return
        if (
            "filtering at log level" in msg
            or "PersistentPreRunE(" in msg
            or (stripped.startswith("Pulling image ") and "(policy: " in stripped)
        ):
            self.podman_strong = True
        elif "Using registries.d" in msg:
            self.containers_image = True


# --------------------------------------------------------------------------------------
# attempts


class _Try:
    """An attempt while the log is read (mutable); :meth:`freeze` makes the Attempt."""

    __slots__ = ("location", "message", "reason")

    def __init__(self, location: str) -> None:
        self.location = location
        self.message: Optional[str] = None
        self.reason: Optional[str] = None

    def fail(self, message: str) -> None:
        self.reason = classify_failure(message)
        self.message = redact(message)

    @property
    def failed(self) -> bool:
        return self.reason is not None

    def freeze(self, outcome: str) -> Attempt:
        if self.failed:
            return Attempt(self.location, "failed", self.reason, self.message)
        return Attempt(self.location, outcome)


def _freeze(tries: list[_Try], last_outcome: str) -> tuple[Attempt, ...]:
    """Attempts without a failure line: ``last_outcome`` for the last, "unfinished" before."""
    count = len(tries)
    return tuple(
        attempt.freeze(last_outcome if index == count - 1 else "unfinished")
        for index, attempt in enumerate(tries)
    )


class _Pending:
    """Attempts waiting for their ``Accessing "R" failed`` line, by location (latest first)."""

    def __init__(self) -> None:
        self._by_location: dict[str, list[_Try]] = {}

    def add(self, attempt: _Try) -> None:
        self._by_location.setdefault(attempt.location, []).append(attempt)

    def fail(self, location: str, message: str) -> None:
        stack = self._by_location.get(location)
        if stack:
            stack.pop().fail(message)


# --------------------------------------------------------------------------------------
# CRI-O journal: attempts grouped into pulls


def _ref_key(ref: str) -> str:
    """What identifies the image across mirrors: the digest, else ``:tag`` (``:latest``)."""
    at = ref.rfind("@")
    if at >= 0:
        return ref[at + 1 :]
    last = ref.rsplit("/", 1)[-1]
    colon = last.find(":")
    return last[colon:] if colon >= 0 else ":latest"


def _repository(ref: str) -> tuple[str, ...]:
    """The repository of a reference as ``(host, *path)``, without tag and digest."""
    at = ref.find("@")
    if at >= 0:
        ref = ref[:at]
    parts = ref.split("/")
    colon = parts[-1].find(":")
    if colon >= 0:
        parts[-1] = parts[-1][:colon]
    return tuple(parts)


def _shared_suffix(one: tuple[str, ...], other: tuple[str, ...]) -> int:
    """How many trailing components two repositories have in common (all: the same one)."""
    count = 0
    for mine, theirs in zip(reversed(one), reversed(other)):
        if mine != theirs:
            break
        count += 1
    return count


# Repositories remembered per pull for attributing attempts: a candidate list is a few
# mirrors and the source; the bound keeps a pathological journal linear.
_MAX_REPOSITORIES = 8


class _Pull:
    __slots__ = (
        "image",
        "locations",
        "pulled",
        "repositories",
        "repository",
        "requested",
        "time",
        "tries",
    )

    def __init__(self, image: Optional[str], time: Optional[str]) -> None:
        self.image = image  # from Pulling image / Checking image status
        self.repository = _repository(image) if image is not None else None
        self.requested = image is not None
        self.time = time
        self.tries: list[_Try] = []
        self.locations: set[str] = set()
        self.repositories: list[tuple[str, tuple[str, ...]]] = []  # (location, its repository)
        self.pulled: Optional[str] = None

    @property
    def reference(self) -> str:
        if self.image is not None:
            return self.image
        return self.tries[0].location if self.tries else ""

    def add(self, attempt: _Try) -> None:
        self.tries.append(attempt)
        if attempt.location not in self.locations:
            self.locations.add(attempt.location)
            if len(self.repositories) < _MAX_REPOSITORIES:
                self.repositories.append((attempt.location, _repository(attempt.location)))

    def matches(self, ref: str) -> bool:
        return _ref_key(self.reference) == _ref_key(ref)

    def affinity(self, repository: tuple[str, ...], other_than: Optional[str] = None) -> int:
        """The most trailing components ``repository`` shares with this pull's image or an
        attempt (except at ``other_than``): a mirror keeps the path below the rewritten
        prefix, and the mirrors of one source usually share their paths."""
        best = _shared_suffix(self.repository, repository) if self.repository else 0
        for location, tried in self.repositories:
            if location != other_than:
                best = max(best, _shared_suffix(tried, repository))
        return best


_MAX_OPEN_PULLS = 16


class _Journal:
    """Groups ``Trying to access`` lines into pulls (see the module docstring)."""

    def __init__(self, events: list[_Event]) -> None:
        self.pulls: list[_Pull] = []
        self._open: list[_Pull] = []  # not yet ended by `Pulled image`, oldest first
        self._pending = _Pending()
        self._checked: Optional[str] = None  # last `Checking image status: X`
        for event in events:
            self._event(event)

    def _start(self, image: Optional[str], time: Optional[str]) -> _Pull:
        pull = _Pull(image, time)
        self.pulls.append(pull)
        self._open.append(pull)
        if len(self._open) > _MAX_OPEN_PULLS:
            del self._open[0]
        return pull

    def _close(self, pull: _Pull) -> None:
        if pull in self._open:
            self._open.remove(pull)

    def _event(self, event: _Event) -> None:
        if event.kind == "checking":
            self._checked = event.value
        elif event.kind == "pulling":
            self._pulling(event)
        elif event.kind == "try":
            self._try(event)
        elif event.kind == "fail":
            self._pending.fail(event.value, event.message)
        elif event.kind == "pulled":
            self._pulled(event)

    def _pulling(self, event: _Event) -> None:
        for pull in reversed(self._open):
            if pull.image == event.value:
                if not pull.tries:  # the same request again (kubelet, CRI-O join): one pull
                    return
                self._close(pull)  # an earlier pull of it that never said Pulled image
                break
        self._start(event.value, event.time)

    def _try(self, event: _Event) -> None:
        location = event.value
        pull = self._owner(location)
        if pull is None:
            image = self._checked
            if image is not None and _ref_key(image) != _ref_key(location):
                image = None
            pull = self._start(image, event.time)
            if image is not None:
                self._checked = None
        attempt = _Try(location)
        pull.add(attempt)
        self._pending.add(attempt)

    def _owner(self, location: str) -> Optional[_Pull]:
        """The open pull this attempt continues, or None when it starts a new pull.

        Candidates are the open pulls of the same digest/tag. CRI-O's lines carry no request
        id, so concurrent pulls (kubelet pulls in parallel) are told apart by repository:
        the candidate whose image or other attempts share the most trailing path components
        with the location wins; on a tie, one that has not tried this location yet (two
        pulls through one mirror repository), then the most recent. Without `Pulling image`
        a tag alone (`:latest`) says little: such a pull is continued by a tag attempt only
        when some repository component is shared.
        """
        repository = _repository(location)
        by_tag = "@" not in location
        best: Optional[_Pull] = None
        best_rank = (-1, False)
        for pull in reversed(self._open):  # newest first: it keeps ties
            if not pull.matches(location):
                continue
            affinity = pull.affinity(repository, other_than=location)
            if by_tag and not pull.requested and affinity == 0 and location not in pull.locations:
                continue
            rank = (affinity, location not in pull.locations)
            if rank > best_rank:
                best, best_rank = pull, rank
        if best is not None:
            if not best.requested and location in best.locations:
                self._close(best)
                return None  # tried again without `Pulling image`: a new pull
            return best
        for pull in reversed(self._open):
            if pull.requested and not pull.tries:
                return pull  # `Pulling image` logged, reference spelled differently
        return None

    def _pulled(self, event: _Event) -> None:
        """``Pulled image: Y`` names the requested repository (with the digest, for a tag):
        it ends the open pull closest to Y's repository, then of Y's digest/tag, then the
        most recent."""
        if not self._open:
            return
        repository = _repository(event.value)
        chosen = self._open[-1]
        best_rank = (-1, False)
        for pull in reversed(self._open):
            rank = (pull.affinity(repository), pull.matches(event.value))
            if rank > best_rank:
                chosen, best_rank = pull, rank
        chosen.pulled = event.value
        self._close(chosen)


def _journal_attempts(pull: _Pull, last_outcome: Optional[str] = None) -> tuple[Attempt, ...]:
    if last_outcome is None:
        last_outcome = "served" if pull.pulled is not None else "unfinished"
    return _freeze(pull.tries, last_outcome)


def parse_crio_journal(text: str) -> list[JournalPull]:
    """The image pulls in a CRI-O journal excerpt (``journalctl -u crio``), in order.

    A pull starts at ``Pulling image: X`` or, without one, at a ``Trying to access`` that
    continues no open pull (other digest/tag, a location already tried, or a tag attempt
    sharing no repository component with it), and ends at ``Pulled image: Y`` (the open pull
    closest to Y's repository). The last attempt of a pulled image is "served"; attempts with
    an ``Accessing … failed`` line (debug level only) are "failed"; the rest "unfinished".
    ``time`` is the journal's timestamp of the pull's first line (logrus ``time=`` without a
    journal prefix). See the module docstring for the limits with concurrent pulls.
    """
    scan = _Scan(text)
    return [
        JournalPull(pull.reference, _journal_attempts(pull), pull.pulled, pull.time)
        for pull in _Journal(scan.events).pulls
    ]


# --------------------------------------------------------------------------------------
# podman / skopeo


_RESOLUTION_ERROR_MARKERS = ("mirrors also failed", "initializing source", "parsing image name")


def _is_resolution_error(final_error: str, location: str) -> bool:
    """Does the tool's final error say that resolving the image (NewImageSource) failed?"""
    lowered = final_error.lower()
    return location in final_error or any(m in lowered for m in _RESOLUTION_ERROR_MARKERS)


def _dangling_outcome(
    exit_code: Optional[int],
    killed: bool,
    shutdown: bool,
    final_error: Optional[str],
    location: str,
    served: bool = False,
) -> str:
    """The outcome of the decisive round's last attempt when it has no failure line."""
    if served or exit_code == 0:
        return "served"
    if killed or shutdown:
        return "hung"
    if final_error is not None and not _is_resolution_error(final_error, location):
        # The tool failed after this source served the manifest (skopeo's tag listing,
        # a blob download, a signature policy): resolution itself succeeded here.
        return "served"
    return "unfinished"


def _sources(
    final_error: Optional[str], attempts: tuple[Attempt, ...]
) -> tuple[tuple[str, str], ...]:
    if final_error is None:
        return ()
    sources = parse_error_sources(final_error)
    if len(sources) > 1:
        return sources
    failed = [attempt for attempt in attempts if attempt.outcome == "failed"]
    if len(attempts) == 1 and len(failed) == 1 and failed[0].message:
        # One candidate: its error is returned unchanged, under the logical reference;
        # name the physical source that was tried instead.
        only = failed[0]
        assert only.message is not None
        if final_error.endswith(only.message):
            return ((only.location, only.message),)
    return sources


def _served_by(attempts: tuple[Attempt, ...]) -> Optional[str]:
    for attempt in attempts:
        if attempt.outcome == "served":
            return attempt.location
    return None


def parse_pull_log(text: str, *, exit_code: Optional[int], killed: bool = False) -> PullLog:
    """Parse the debug log of one pull (podman, skopeo, or a CRI-O journal excerpt).

    ``exit_code`` is the tool's exit status (None: unknown); ``killed``: the agent killed
    it (timeout). The attempt without a failure line at the end of the decisive round is
    "served" when rc is 0; else "hung" when killed or a shutdown signal was logged;
    else "served" when the tool failed for a reason other than resolution (e.g. skopeo's
    ``Error determining repository tags`` after the manifest came from that source, a
    blob download error); else "unfinished".
    In earlier rounds such an attempt is "served" (the manifest came from it, something
    after that failed and was retried). Attempts without a failure line that are not the
    last of their round are "unfinished".

    For CRI-O text (no retry loop), the last pull of :func:`parse_crio_journal` decides and
    earlier pulls of the same image are the earlier rounds (kubelet's retries);
    ``final_error`` is None.
    """
    scan = _Scan(text)
    tool = scan.tool
    config_files = tuple(scan.config_files)
    if tool == "crio":
        return _crio_pull_log(scan, config_files, exit_code, killed)
    rounds: list[list[_Try]] = [[]]
    pending = _Pending()
    for event in scan.events:
        if event.kind == "try":
            attempt = _Try(event.value)
            rounds[-1].append(attempt)
            pending.add(attempt)
        elif event.kind == "fail":
            pending.fail(event.value, event.message)
        elif event.kind == "retry":
            rounds.append([])
            pending = _Pending()
    earlier = tuple(_freeze(tries, "served") for tries in rounds[:-1])
    last = rounds[-1]
    outcome = "unfinished"
    if last and not last[-1].failed:
        outcome = _dangling_outcome(
            exit_code, killed, scan.shutdown, scan.final_error, last[-1].location
        )
    attempts = _freeze(last, outcome)
    return PullLog(
        tool=tool,
        attempts=attempts,
        rounds=len(rounds),
        earlier_rounds=earlier,
        config_files=config_files,
        final_error=scan.final_error,
        final_error_sources=_sources(scan.final_error, attempts),
        shutdown=scan.shutdown,
        served_by=_served_by(attempts),
    )


def _crio_pull_log(
    scan: _Scan, config_files: tuple[str, ...], exit_code: Optional[int], killed: bool
) -> PullLog:
    pulls = _Journal(scan.events).pulls
    attempts: tuple[Attempt, ...] = ()
    earlier: tuple[tuple[Attempt, ...], ...] = ()
    if pulls:
        decisive = pulls[-1]
        outcome = "unfinished"
        if decisive.tries and not decisive.tries[-1].failed:
            outcome = _dangling_outcome(
                exit_code,
                killed,
                scan.shutdown,
                None,
                decisive.tries[-1].location,
                served=decisive.pulled is not None,
            )
        attempts = _journal_attempts(decisive, outcome)
        earlier = tuple(
            _journal_attempts(pull) for pull in pulls[:-1] if pull.reference == decisive.reference
        )
    return PullLog(
        tool="crio",
        attempts=attempts,
        rounds=1 + len(earlier),
        earlier_rounds=earlier,
        config_files=config_files,
        final_error=scan.final_error,
        final_error_sources=_sources(scan.final_error, attempts),
        shutdown=scan.shutdown,
        served_by=_served_by(attempts),
    )
