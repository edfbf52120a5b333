"""One error hierarchy: each error knows its exit code and what the operator should check."""

from __future__ import annotations

import enum
from typing import Optional


class ExitCode(enum.IntEnum):
    """Every status the agent's process ends with (nothing else returns a number)."""

    OK = 0
    VERIFICATION_FAILED = 1  # an image, a node or a checklist item failed (or warned, --strict)
    BAD_INPUT = 2  # usage, an option's value, an input file, a registries.conf the user gave
    # sysexits' EX_UNAVAILABLE: what the agent needs is not available: the API server
    # (unreachable, 401, 403), podman or skopeo, a permission, a report it could not publish
    ENVIRONMENT = 69
    INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug; no input may lead here
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


#: How much of an input value an error message quotes: a checks file line, a reference or
#: an id can be a megabyte, and the message ends up in a 1 MiB report and in the log.
QUOTE_LIMIT = 200


def clipped(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``value`` cut to ``limit`` characters, saying how many were left out."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value) - limit} more characters)"


def quoted(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of at most ``limit`` characters of ``value``, saying how many were left out."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value) - limit} more characters)"


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


class EnvironmentFailure(AgentError):
    """Not the input's fault: something the agent needs is missing, refused or unreachable."""

    exit_code = ExitCode.ENVIRONMENT


class CheckEnvironmentError(EnvironmentFailure):
    """The node cannot host the check: no disk space, no chroot, no scratch folder..."""

    kind = "environment"


class ConfigError(AgentError):
    """registries.conf cannot be loaded: every pull on the node would fail.

    ``kind`` is one of the names in the conformance README's error table, so scripts can
    rely on it; ``file``/``line``/``column`` point at the fault when known. A file the
    agent may not read is the environment's fault (``exit_code`` ENVIRONMENT), not the
    file's.
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
        exit_code: ExitCode = ExitCode.BAD_INPUT,
    ) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.exit_code = exit_code

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
