"""Attempts read from an error text, for logs without ``Trying to access`` lines.

Without ``--log-level=debug`` podman prints only its final error (and retry warnings);
the kubelet's events carry CRI-O's. Both name the sources tried, in order:
``(Mirrors also failed: [R1: E1]\\n[R2: E2]): R3: E3`` with several candidates, else the one
candidate's error (``reading manifest T in REPO: …``, ``pinging container registry H: …``).
c/image names the logical image ``docker://user/repo:tag`` (docker.io's short display form);
the sources inside ``Mirrors also failed`` are full names.
"""

from __future__ import annotations

import re
from typing import Optional

from agent.pull.log.classify import classify_failure
from agent.pull.log.decor import CUT_MARK
from agent.pull.log.error_sources import parse_error_sources
from agent.pull.log.model import Attempt
from agent.pull.log.redact import redact

__all__ = ["error_attempts", "qualified", "resolution_failed"]

_READING_MANIFEST = re.compile(r"reading manifest (\S+) in (\S+?): ", re.IGNORECASE)
_MIRRORS = "(Mirrors also failed: ["
_GROUP = re.compile(r"(\S+?): (.*)", re.DOTALL)
# Errors of a source that was tried and refused (any resolution step), when no source is
# named: the pull's own image is the source.
_RESOLUTION_WORDS = re.compile(
    r"pinging (?:container|docker) registry|reading manifest|is blocked in"
    r"|unable to retrieve auth token|too many requests to registry|initializing source"
    r"|can't talk to a v1",
    re.IGNORECASE,
)


def qualified(ref: str) -> str:
    """A reference as c/image displays it (``docker://user/repo:tag``, ``busybox``) as the
    fully qualified docker.io reference it stands for; other references unchanged."""
    if ref.startswith("docker://"):
        ref = ref[len("docker://") :]
    first, slash, _ = ref.partition("/")
    if not slash:
        return "docker.io/library/" + ref
    if "." in first or ":" in first or first == "localhost":
        return ref
    return "docker.io/" + ref


def _location(ref: str, error: str) -> str:
    """The physical source of a one-candidate error: the repository ``reading manifest T
    in R`` names (a mirror reached through a rewrite), else ``ref``."""
    match = _READING_MANIFEST.search(error)
    if match is None:
        return qualified(ref)
    tag_or_digest, repository = match.groups()
    separator = "@" if ":" in tag_or_digest else ":"  # a tag holds no colon, a digest does
    return f"{repository}{separator}{tag_or_digest}"


def _cut_sources(error: str) -> tuple[tuple[str, str], ...]:
    """``(ref, err)`` of a ``Mirrors also failed`` text cut short (systemctl status): the
    groups that are there, the last one as far as it goes."""
    start = error.find(_MIRRORS)
    if start < 0:
        return ()
    pairs = []
    for group in error[start + len(_MIRRORS) :].split("\n["):
        match = _GROUP.match(group)
        if match is None or "/" not in match.group(1):
            break
        ref, rest = match.groups()
        end = rest.find("]): ")
        if end < 0:
            pairs.append((ref, rest.rstrip("]")))
            continue
        pairs.append((ref, rest[:end]))
        primary = _GROUP.match(rest, end + 4)
        if primary is not None and "/" in primary.group(1):
            pairs.append((primary.group(1), primary.group(2)))
        break
    return tuple(pairs)


def resolution_failed(error: str) -> bool:
    """Does ``error`` say that a source was tried and failed (not a later step)?"""
    return _RESOLUTION_WORDS.search(error) is not None


def error_attempts(error: str, image: Optional[str] = None) -> tuple[Attempt, ...]:
    """The failed attempts an error text names, in order (primary source last).

    ``image`` (the pull's reference, when the log names it) is the source of a
    one-candidate error that names none. A text cut short keeps what it shows; an attempt
    whose reason was cut off gets ``unknown``. Empty when the error names no source.
    """
    if CUT_MARK in error:  # a group cut short still ends where the next one starts
        error = error.replace(CUT_MARK + "\n[", CUT_MARK + "]\n[")
    pairs = parse_error_sources(error)
    if len(pairs) == 1:
        ref, err = pairs[0]
        pairs = ((_location(ref, err), err),)
    elif not pairs:
        pairs = _cut_sources(error)
    if not pairs:
        match = _READING_MANIFEST.search(error)
        if match is not None:
            pairs = ((_location("", error), error[match.start() :]),)
        elif image is not None and resolution_failed(error):
            pairs = ((qualified(image), error),)
    return tuple(
        Attempt(qualified(ref), "failed", classify_failure(err), redact(err.rstrip()))
        for ref, err in pairs
        if ref.strip(CUT_MARK)
    )
