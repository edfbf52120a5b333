"""The sources a containers/image error names: ``(Mirrors also failed: [R1: E1]…): R: E``."""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["parse_error_sources"]

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
