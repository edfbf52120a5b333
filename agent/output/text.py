"""Plain-text helpers the renderers share (pure)."""

from __future__ import annotations

import re
from typing import Optional

from agent.reference import DIGEST_ALGORITHMS

# C0 and C1 controls but tab and newline, DEL, and the invisible or direction-changing
# format characters: what could move the cursor, recolour, retitle or hide text.
_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control character (ESC, CR, OSC...) but tab and newline shown
    as an escape (``\\x1b``): references, logs and reports come from others and must
    never drive the terminal they are printed on."""
    return _UNSAFE.sub(_escaped, text)


def aligned(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows as lines of left-aligned columns (the first row is usually the header); cells
    are made :func:`terminal_safe` first, so that widths hold."""
    rows = [[terminal_safe(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in rows
    ]


_DIGEST_TEXT = re.compile(rf"\b({'|'.join(DIGEST_ALGORITHMS)}):([0-9a-f]+)\b")


def short_digest(text: str) -> str:
    """Shorten digests (sha256, sha384, sha512) for tables: people compare the first characters."""

    def shorten(match: re.Match[str]) -> str:
        algorithm, encoded = match.groups()
        if len(encoded) != DIGEST_ALGORITHMS[algorithm]:
            return match.group()
        return f"{algorithm}:{encoded[:12]}…"

    return _DIGEST_TEXT.sub(shorten, text)


def error_text(error: Exception, hint: Optional[str]) -> str:
    text = f"error: {error}"
    if hint:
        text += f"\nhint: {hint}"
    return terminal_safe(text)
