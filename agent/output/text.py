"""Plain-text helpers the renderers share (pure)."""

from __future__ import annotations

import re
from typing import Optional


def aligned(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows as lines of left-aligned columns (the first row is usually the header)."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in rows
    ]


def short_digest(text: str) -> str:
    """Shorten sha256 digests for tables: people compare the first characters."""
    return re.sub(r"sha256:([0-9a-f]{12})[0-9a-f]{52}", r"sha256:\1…", text)


def error_text(error: Exception, hint: Optional[str]) -> str:
    text = f"error: {error}"
    if hint:
        text += f"\nhint: {hint}"
    return text
