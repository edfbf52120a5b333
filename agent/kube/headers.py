"""Whether a value can travel in an HTTP header: a token, an impersonated name (pure).

http.client sends header values as Latin-1 and refuses line breaks; requests also refuses
leading white space. A value that breaks these rules must be refused before a request is
built, with a message that names the field and never quotes the value (it may be a
secret, and a line break in it could forge a header).
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["header_problem"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot be an HTTP header value (words without the value), else None."""
    if _CONTROL.search(value):
        return "a control character (such as a line break)"
    if any(ord(char) > 0xFF for char in value):
        return "a character outside Latin-1"
    if value[:1].isspace():
        return "leading white space"
    return None
