"""What pasting adds around a log line, taken off: journal prefixes, cut marks, indentation.

A log reaches ``agent analyze`` as people paste it: a journal (``Dec 02 10:00:00 host
podman[123]: …``, in any locale and in journalctl's other short formats), a ``systemctl
status`` excerpt (lines cut at the terminal's width, marked with ``…`` or less's ``>``),
an article or an e-mail (indented, quoted with ``> ``). :func:`undecorate` gives the text
the tool wrote, the journal's timestamp and identifier, and whether the line was cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["CUT_MARK", "Decorated", "journal_prefix", "undecorate"]

# What a cut line ends with in the text the agent keeps: a reader sees the text stops there.
CUT_MARK = "…"

# journalctl's short formats. The month may be in any locale's words ("déc.", "Dez",
# "12月", "Ноя"); -o short-iso / short-iso-precise / short-full / short-unix /
# short-monotonic; the syslog identifier may carry a [pid] (systemd[1], bootkube.sh[2345]).
_STAMP = (
    r"(?:(?:[A-Za-z]{2,3}\.? )?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"(?: ?(?:Z|[+-]\d\d:?\d\d|[A-Z]{2,5}))?"  # ISO, short-full
    r"|[^\s\d:\[\]]{1,12}\.? {1,2}\d{1,2},? \d\d:\d\d:\d\d(?:[.,]\d+)?"  # Mon DD hh:mm:ss
    r"|\d{1,2}\.? [^\s\d:\[\]]{1,12}\.? \d\d:\d\d:\d\d(?:[.,]\d+)?"  # DD Mon hh:mm:ss
    r"|\d{1,2}月 {1,2}\d{1,2}日? \d\d:\d\d:\d\d(?:[.,]\d+)?"  # ja_JP, zh_CN
    r"|\d{9,}\.\d+"  # short-unix
    r"|\[ *\d+\.\d+\])"  # short-monotonic
)
_JOURNAL = re.compile(
    rf"^(?P<ts>{_STAMP})\s+(?P<host>[^\s:\[]+)\s+(?P<ident>[^\s\[:]{{1,64}})"
    r"(?:\[(?P<pid>\d+)\])?:(?: |$)"
)
# An article or e-mail: leading blanks, `> ` quote marks, a `$ `/`# ` prompt is not one.
_QUOTING = re.compile(r"^(?:[ \t]*>(?=[ \t>]))*[ \t]*")
# A line cut by less -S (`>` in the last column) or by systemctl's ellipsis.
_CUT_TAIL = re.compile(r"(?:…|\.\.\.|>)\Z")


@dataclass(frozen=True)
class Decorated:
    """A pasted line: the text the tool wrote, and what was around it."""

    text: str
    time: Optional[str]  # the journal's timestamp
    ident: Optional[str]  # the journal's identifier (syslog tag), e.g. "podman", "crio"
    cut: bool  # the line was cut (systemctl status, less -S): the text stops early
    pid: Optional[str] = None  # the journal's process id, when the prefix shows one


def undecorate(line: str) -> Decorated:
    """``line`` without its journal prefix and quoting; cut marks as :data:`CUT_MARK`.

    A trailing ``>`` or ``...`` counts as a cut only on a journal line (where systemctl
    status and less put them); ``…`` (which tools do not print) counts anywhere.
    """
    time: Optional[str] = None
    ident: Optional[str] = None
    pid: Optional[str] = None
    text = _QUOTING.sub("", line, count=1)
    match = _JOURNAL.match(text)
    if match is not None:
        time, ident, pid = match.group("ts"), match.group("ident"), match.group("pid")
        text = _QUOTING.sub("", text[match.end() :], count=1)
    text = text.rstrip()
    cut = text.endswith("…")
    if not cut and ident is not None and _CUT_TAIL.search(text) and not _complete(text):
        cut = True
    if cut:
        text = _CUT_TAIL.sub("", text).rstrip() + CUT_MARK
    return Decorated(text, time, ident, cut, pid)


def journal_prefix(prefix: str) -> tuple[Optional[str], Optional[str]]:
    """The timestamp and identifier of a journal prefix (the text before a logrus entry)."""
    match = _JOURNAL.match(_QUOTING.sub("", prefix, count=1))
    if match is None:
        return None, None
    return match.group("ts"), match.group("ident")


def _complete(text: str) -> bool:
    """A journal line that ends in ``>``/``...`` for its own reasons: a podman progress
    line (``Trying to pull X...``), an HTML tag, a retry warning's ``...``."""
    if text.endswith("..."):
        return text.startswith(("Trying to pull ", "Pull failed. Retrying "))
    return text.endswith(">") and "<" in text[text.rfind(" ") :]
