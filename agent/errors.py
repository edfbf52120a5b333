"""One error hierarchy: each error knows its exit code and what the operator should check."""

from __future__ import annotations

import enum
from typing import Optional


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    VERIFICATION_FAILED = 1
    BAD_INPUT = 2
    # sysexits' EX_UNAVAILABLE: what the agent needs is not available (no node root at
    # /host, not privileged, a report that could not be published...)
    ENVIRONMENT = 69
    NOT_PUBLISHED = 69  # the same code (an alias): agent run --cycles could not publish


class AgentError(Exception):
    """Base of every error the agent reports to the user (never shown as a traceback)."""

    exit_code: ExitCode = ExitCode.BAD_INPUT
    kind: str = "error"

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AgentError):
    kind = "usage"


class ConfigError(AgentError):
    """registries.conf cannot be loaded: every pull on the node would fail.

    ``kind`` is one of the names in the conformance README's error table, so scripts can
    rely on it; ``file``/``line``/``column`` point at the fault when known.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        file: Optional[str] = None,
        line: Optional[int] = None,
        column: Optional[int] = None,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return f"{where}{self.message}"


class RewriteError(AgentError):
    """The configuration loads, but the sources for one reference cannot be built."""

    kind = "rewrite-invalid-reference"
