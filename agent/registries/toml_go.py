"""Parse registries.conf TOML as the Go decoder of containers/image (BurntSushi/toml)
does, where it differs from tomllib (pure, no I/O): integers outside int64 and floats
beyond float64 are errors wherever they are; a key repeated with an array value loads, the
last value winning (``repeated.py``); syntax errors keep their line and column.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from typing import Any, Callable, Optional

from agent.errors import ConfigError
from agent.registries.model import RepeatedKey
from agent.registries.repeated import keep_last_repeated_arrays

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib


_REPEATED_KEY = "Cannot overwrite a value"  # tomllib's message for a key assigned twice


# ... and for a [T] header after `T = [...]` or `T.k = …` (which the Go decoder accepts)
_LENIENT_ERRORS = (f"invalid TOML: {_REPEATED_KEY}", "invalid TOML: Cannot declare (")


_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


# Any integer outside int64 has 19+ decimal (or octal, binary) digits or 16+ hex digits.
# (Only used on the error path: scanning a large file takes longer than walking its values.)
_LONG_NUMBER = re.compile(r"\d(?:_?\d){18}|0x[0-9A-Fa-f_]{16}")


def parse_toml(text: str, path: str) -> tuple[dict[str, Any], tuple[RepeatedKey, ...]]:
    """Parse like BurntSushi/toml; also returns the repeated keys it lets through.

    Go refuses integers outside int64 and floats beyond float64 wherever they are, even under
    keys nobody reads; tomllib accepts them. (Datetimes with more than 9 fractional digits,
    also refused by Go, are accepted.) Go accepts a key repeated in one table when either
    value is an array, the last value winning (see ``repeated.py``); tomllib refuses it.
    """
    try:
        return _parse_toml(text, text, path), ()
    except ConfigError as error:
        lenient = None
        if error.message.startswith(_LENIENT_ERRORS):
            lenient = keep_last_repeated_arrays(text)
        if lenient is None or not (lenient.repeats or lenient.merges):
            raise
    # Go read the earlier values too: a number out of range there is still an error.
    dropped_faults = [fault for statement in lenient.dropped for fault in _number_faults(statement)]
    document = _parse_toml(lenient.text, text, path, dropped_faults)
    for placeholder, table_path in lenient.merges:
        _merge_table(document, document.pop(placeholder, {}), table_path)
    return document, lenient.repeats


def _merge_table(document: dict[str, Any], keys: Any, table_path: tuple[str, ...]) -> None:
    """The keys of a ``[T]`` header that came after ``T.k = …`` dotted keys, put into T."""
    target: Any = document
    for part in table_path:
        target = target.setdefault(part, {}) if isinstance(target, dict) else None
    if isinstance(target, dict) and isinstance(keys, dict):
        target.update(keys)


def _float_parser(overflowing: list[str]) -> Callable[[str], float]:
    """A ``parse_float`` for tomllib that records literals beyond float64 (Go refuses them)."""

    def parse_float(literal: str) -> float:
        value = float(literal)
        if math.isinf(value) and literal.lstrip("+-") != "inf":
            overflowing.append(literal)
        return value

    return parse_float


def _number_faults(statement: str) -> list[tuple[Any, str]]:
    """Numbers out of Go's range in one ``key = value`` statement."""
    floats: list[str] = []
    try:
        document = tomllib.loads(statement, parse_float=_float_parser(floats))
    except (tomllib.TOMLDecodeError, RecursionError):
        return []
    return [(literal, "float64") for literal in floats] + [
        (value, "int64") for value in _out_of_range_integers(document)
    ]


def _parse_toml(
    source: str, text: str, path: str, extra_faults: Sequence[tuple[Any, str]] = ()
) -> dict[str, Any]:
    """tomllib on ``source`` (``text``, or ``text`` with repeats blanked) plus Go's limits."""
    overflowing_floats: list[str] = []
    try:
        document: dict[str, Any] = tomllib.loads(
            source, parse_float=_float_parser(overflowing_floats)
        )
    except RecursionError:
        raise ConfigError(
            "toml-syntax",
            "invalid TOML: arrays or inline tables nested too deeply for the agent's parser",
            file=path,
        ) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: Optional[int] = None
        column: Optional[int] = None
        position = _SYNTAX_POSITION.search(message)
        if position:
            line, column = int(position.group(1)), int(position.group(2))
            message = message[: position.start()]
        # Go parses in order as well: a number out of range before the syntax error is
        # what it reports. Floats seen so far were recorded; integers are looked for in
        # the lines before the error's, when those parse on their own.
        earlier: list[tuple[Any, str]] = [(literal, "float64") for literal in overflowing_floats]
        earlier += extra_faults
        if line is not None:
            head = "\n".join(source.split("\n")[: line - 1])  # tomllib counts "\n" only
            if _LONG_NUMBER.search(head):
                try:
                    head_document = tomllib.loads(head)
                except (tomllib.TOMLDecodeError, RecursionError):
                    head_document = {}
                earlier += [(value, "int64") for value in _out_of_range_integers(head_document)]
        if earlier:
            raise _out_of_range(text, path, earlier) from None
        raise ConfigError(
            "toml-syntax", f"invalid TOML: {message}", file=path, line=line, column=column
        ) from None
    faults: list[tuple[Any, str]] = [(literal, "float64") for literal in overflowing_floats]
    faults += extra_faults
    faults += [(value, "int64") for value in _out_of_range_integers(document)]
    if faults:
        raise _out_of_range(text, path, faults)
    return document


def _out_of_range_integers(document: dict[str, Any]) -> list[int]:
    """Every integer outside int64 in the document (iterative: this runs on every load)."""
    found = []
    pending: list[Any] = [document]
    while pending:
        node = pending.pop()
        for value in node.values() if type(node) is dict else node:
            kind = type(value)
            if kind is dict or kind is list:
                pending.append(value)
            elif kind is int and not _INT64_MIN <= value <= _INT64_MAX:
                found.append(value)
    return found


def _number_pattern(value: Any) -> re.Pattern[str]:
    """The TOML spellings of a number: its float literal, or any integer form of ``value``."""
    if isinstance(value, str):
        body = re.escape(value)
    else:

        def digits(text: str) -> str:
            return "_?".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in text)

        sign = "-" if value < 0 else r"\+?"
        forms = [sign + digits(str(abs(value)))]
        if value > 0:  # hexadecimal, octal and binary take no sign; leading zeros are allowed
            forms += [f"0{base}(?:0_?)*{digits(format(value, base))}" for base in "xob"]
        body = "(?:" + "|".join(forms) + ")"
    return re.compile(r"(?<![\w.+-])" + body + r"(?![\w.])(?!\s*=)")  # not inside a word or key


def _follows_value_start(text: str, position: int) -> bool:
    """Whether ``=``, ``[`` or ``,`` comes before ``position`` (past blanks and comment lines)."""
    before = text[:position].rstrip()
    while True:
        head, _, last_line = before.rpartition("\n")
        if not last_line.lstrip().startswith("#"):
            return before.endswith(("=", "[", ","))
        before = head.rstrip()


def _find_number(text: str, value: Any) -> Optional[re.Match[str]]:
    """Where ``value`` is written as a value; the digits may also be in strings or comments."""
    matches = list(_number_pattern(value).finditer(text))
    for match in matches:
        if _follows_value_start(text, match.start()):
            return match
    return matches[0] if matches else None


def _out_of_range(text: str, path: str, faults: list[tuple[Any, str]]) -> ConfigError:
    """The error for the fault written first in the file (Go stops at the first)."""
    located = []
    for value, size in faults:
        match = _find_number(text, value)
        position = match.start() if match else len(text)
        literal = match.group() if match else str(value)
        located.append((position, literal, size))
    position, literal, size = min(located)
    line = column = None
    if position < len(text):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
    return ConfigError(
        "toml-syntax",
        f"invalid TOML: {literal} is out of range for {size}",
        file=path,
        line=line,
        column=column,
    )
