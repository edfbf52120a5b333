"""Repeated TOML keys that the Go decoder of containers/image lets through (pure, no I/O).

TOML forbids assigning a key twice in one table, and tomllib refuses it. BurntSushi/toml,
the decoder of every containers/image release so far (up to v1.5.0), records a key's type as
Array as soon as it *starts* reading an array value, and lets a repeated key through when the
type it recorded last is Array. So a repeated assignment loads, replacing the earlier value,
when the new value or the previous value of that key is an array
(``unqualified-search-registries = [...]`` twice; ``credential-helpers = "x"`` then
``credential-helpers = []``); two scalars (or inline tables) in a row are still an error.
So is a repeated value that is an array holding inline tables (``mirror = [{...}]`` after
any earlier value): each of its tables is added to the key as to an array of tables, which
the earlier value is not. (toml v1.6.0, in no containers/image release yet, refuses them
all.)

:func:`keep_last_repeated_arrays` is only called once tomllib has refused a text: it finds
those repetitions and blanks the earlier assignment, keeping every line where it was so that
positions in later errors stay right. Text it cannot follow is returned unchanged, for
tomllib to report.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Optional

from agent.registries.model import RepeatedKey

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BLANKS = " \t"
_QUOTES = ('"""', "'''", '"', "'")  # multi-line delimiters first


@dataclass(frozen=True)
class Lenient:
    """A text with the repeated assignments the Go decoder accepts reduced to the last one."""

    text: str
    repeats: tuple[RepeatedKey, ...] = ()
    dropped: tuple[str, ...] = ()  # the earlier assignments blanked, as ``key = value`` text
    # ``[T]`` headers of a table dotted keys already made (``aliases.x = …`` then
    # ``[aliases]``): renamed to a placeholder table, whose keys go into T once loaded.
    merges: tuple[tuple[str, tuple[str, ...]], ...] = ()


class _CannotFollow(Exception):
    """The text is not TOML this scanner follows: leave it to tomllib."""


@dataclass
class _Assignment:
    start: int
    end: int
    line: int
    is_array: bool
    holds_tables: bool = False  # an array with an inline table among its elements, at any depth


class _Scanner:
    """Walks the statements of a TOML document, skipping over values without decoding them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def peek(self, count: int = 1) -> str:
        return self.text[self.i : self.i + count]

    def expect(self, token: str) -> None:
        if self.peek(len(token)) != token:
            raise _CannotFollow(f"expected {token!r} at {self.i}")
        self.i += len(token)

    def skip_blanks(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _BLANKS:
            self.i += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.i)
            self.i = len(self.text) if end == -1 else end

    def skip_space(self) -> None:
        """Blanks, newlines and comments."""
        while self.i < len(self.text):
            char = self.text[self.i]
            if char in " \t\r\n":
                self.i += 1
            elif char == "#":
                self.skip_comment()
            else:
                return

    def end_of_line(self) -> None:
        self.skip_blanks()
        self.skip_comment()
        if self.peek() == "\r":
            self.i += 1
        if self.i < len(self.text):
            self.expect("\n")

    def line(self, position: int) -> int:
        return self.text.count("\n", 0, position) + 1

    # -- keys and values ------------------------------------------------------------------

    def key(self) -> tuple[str, ...]:
        """A dotted key; each part decoded (quoted parts through tomllib)."""
        parts = []
        while True:
            self.skip_blanks()
            start = self.i
            char = self.peek()
            if char in ('"', "'"):
                self.string()
                decoded = tomllib.loads(f"k = {self.text[start : self.i]}")["k"]
                parts.append(str(decoded))
            else:
                match = _BARE_KEY.match(self.text, self.i)
                if match is None:
                    raise _CannotFollow(f"no key at {self.i}")
                self.i = match.end()
                parts.append(match.group())
            self.skip_blanks()
            if self.peek() != ".":
                return tuple(parts)
            self.i += 1

    def string(self) -> None:
        quote = next((q for q in _QUOTES if self.peek(len(q)) == q), None)
        if quote is None:
            raise _CannotFollow(f"no string at {self.i}")
        self.i += len(quote)
        escapes = quote[0] == '"'  # literal strings have no escapes
        while self.i < len(self.text):
            if escapes and self.text[self.i] == "\\":
                self.i += 2
            elif self.peek(len(quote)) == quote:
                self.i += len(quote)
                # a multi-line string may end with up to two quotes of its own: """a""""
                extra = 0
                while len(quote) == 3 and extra < 2 and self.peek() == quote[0]:
                    self.i += 1
                    extra += 1
                return
            elif len(quote) == 1 and self.text[self.i] == "\n":
                raise _CannotFollow(f"newline in a string at {self.i}")
            else:
                self.i += 1
        raise _CannotFollow("unterminated string")

    def value(self, nested: bool) -> bool:
        """Skips one value; whether it is an array holding an inline table."""
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "[":
            return self.array()
        elif char == "{":
            self.inline_table()
        else:  # number, boolean, date-time: up to where the statement or element ends
            stops = ",]}\n#" if nested else "\n#"
            start = self.i
            while self.i < len(self.text) and self.text[self.i] not in stops:
                self.i += 1
            if not self.text[start : self.i].strip():
                raise _CannotFollow(f"no value at {start}")
        return False

    def array(self) -> bool:
        self.expect("[")
        holds_tables = False
        while True:
            self.skip_space()
            if self.peek() == "]":
                self.i += 1
                return holds_tables
            holds_tables = self.peek() == "{" or holds_tables
            holds_tables = self.value(nested=True) or holds_tables
            self.skip_space()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "]":
                raise _CannotFollow(f"expected ',' or ']' at {self.i}")

    def inline_table(self) -> None:
        self.expect("{")
        self.skip_blanks()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.key()
            self.expect("=")
            self.skip_blanks()
            self.value(nested=True)
            self.skip_blanks()
            if self.peek() == "}":
                self.i += 1
                return
            self.expect(",")
            self.skip_blanks()


class _Tables:
    """Table headers: a key of each table instance, and how warnings name it."""

    def __init__(self) -> None:
        self.count = 0
        self.latest: dict[tuple[str, ...], str] = {}  # array-table path -> latest instance
        self.instances: dict[str, int] = {}

    def enter(self, path: tuple[str, ...], array: bool) -> tuple[int, str]:
        display = ""
        for depth, part in enumerate(path, 1):
            if depth < len(path) and path[:depth] in self.latest:
                display = self.latest[path[:depth]]  # [a.b] under [[a]]: its latest element
            else:
                display = f"{display}.{_quoted(part)}" if display else _quoted(part)
        if array:
            index = self.instances.get(display, 0)
            self.instances[display] = index + 1
            display = f"{display}[{index}]"
            self.latest[path] = display
        self.count += 1
        return self.count, display


def _quoted(part: str) -> str:
    return part if _BARE_KEY.fullmatch(part) else f'"{part}"'


def keep_last_repeated_arrays(text: str) -> Lenient:
    """``text`` with every repeated assignment the Go decoder accepts reduced to its last one.

    No repeats and the text unchanged when there are none, or when the text is not TOML the
    scanner follows (tomllib then reports the error).
    """
    try:
        return _keep_last(text)
    except (_CannotFollow, tomllib.TOMLDecodeError, IndexError, RecursionError):
        return Lenient(text)


MERGE_PLACEHOLDER = "mirror-agent: table defined after its dotted keys "


def _keep_last(text: str) -> Lenient:
    scanner = _Scanner(text)
    tables = _Tables()
    table_id, table_name = 0, ""
    seen: dict[tuple[int, tuple[str, ...]], _Assignment] = {}
    blanked: list[_Assignment] = []
    repeats: list[RepeatedKey] = []
    # Outside arrays of tables: what the Go decoder lets a later `[T]` header do.
    current: Optional[tuple[str, ...]] = ()  # the plain table being filled (None: [[...]])
    array_values: dict[tuple[str, ...], _Assignment] = {}  # T = [...]: [T] replaces it
    dotted: set[tuple[str, ...]] = set()  # tables that dotted keys made: [T] adds to them
    dotted_keys: set[tuple[str, ...]] = set()  # the keys dotted keys set (T.k)
    headers: set[tuple[str, ...]] = set()
    renames: list[tuple[int, int, str]] = []  # (start, end, new header text)
    merges: list[tuple[str, tuple[str, ...]]] = []
    while True:
        scanner.skip_space()
        if scanner.i >= len(text):
            break
        if scanner.peek() == "[":
            header_start = scanner.i
            array = scanner.peek(2) == "[["
            scanner.i += 2 if array else 1
            path = scanner.key()
            scanner.expect("]]" if array else "]")
            header_end = scanner.i
            scanner.end_of_line()
            table_id, table_name = tables.enter(path, array)
            current = None if array else path
            if array or path in headers:
                continue
            headers.add(path)
            earlier_array = array_values.pop(path, None)
            if earlier_array is not None:  # `T = [...]` then `[T]`: the table replaces it
                blanked.append(earlier_array)
                line = scanner.line(header_start)
                key = ".".join(_quoted(part) for part in path)
                repeats.append(RepeatedKey(key, line, earlier_array.line))
            elif path in dotted:  # `T.k = …` then `[T]`: both kept
                placeholder = f"{MERGE_PLACEHOLDER}{len(merges)}"
                renames.append((header_start, header_end, f'["{placeholder}"]'))
                merges.append((placeholder, path))
            continue
        start = scanner.i
        parts = scanner.key()
        scanner.expect("=")
        scanner.skip_blanks()
        assignment = _Assignment(start, 0, scanner.line(start), scanner.peek() == "[")
        assignment.holds_tables = scanner.value(nested=False)
        assignment.end = scanner.i
        scanner.end_of_line()
        if current is not None:
            full = current + parts
            if full in dotted_keys and any(current == merged for _, merged in merges):
                raise _CannotFollow(f"{full} is defined twice")  # Go refuses it too
            if assignment.is_array:
                array_values[full] = assignment
            dotted.update(current + parts[:depth] for depth in range(1, len(parts)))
            if len(parts) > 1:
                dotted_keys.add(full)
        slot = (table_id, parts)
        earlier: Optional[_Assignment] = seen.get(slot)
        if (
            earlier is not None
            and (assignment.is_array or earlier.is_array)
            and not assignment.holds_tables
        ):
            blanked.append(earlier)
            key = ".".join(_quoted(part) for part in parts)
            repeats.append(
                RepeatedKey(
                    f"{table_name}.{key}" if table_name else key, assignment.line, earlier.line
                )
            )
        seen[slot] = assignment
    if not repeats and not merges:
        return Lenient(text)
    chars = list(text)
    for assignment in blanked:
        for position in range(assignment.start, assignment.end):
            if chars[position] not in "\r\n":
                chars[position] = " "
    for start, end, header in reversed(renames):  # one line each: later lines stay put
        chars[start:end] = [header]
    dropped = tuple(text[a.start : a.end] for a in blanked)
    return Lenient("".join(chars), tuple(repeats), dropped, tuple(merges))
