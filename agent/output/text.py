"""Plain-text helpers the renderers share (pure)."""

from __future__ import annotations

import re
from typing import Optional

from agent.reference import DIGEST_ALGORITHMS


def aligned(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows as lines of left-aligned columns (the first row is usually the header)."""
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
    return text
