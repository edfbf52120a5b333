"""Every file the agent reads goes through here: a regular file, of bounded size, UTF-8.

The agent runs privileged on every node and reads files that others write (the node's
registries.conf drop-ins, the checks ConfigMap, kubeconfigs, reports, logs). Opening is
non-blocking (a FIFO named ``x.conf`` must not hang the agent), anything but a regular
file is refused, nothing larger than the caller's limit is read, and text that is not
UTF-8 is an error naming the file, line and byte. A UTF-8 byte-order mark is dropped.
The caps are listed in docs/limits.md.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Literal, Optional, Union

from agent.errors import AgentError, ExitCode

__all__ = [
    "AUTH_FILE_LIMIT",
    "CHECKS_FILE_LIMIT",
    "KUBECONFIG_LIMIT",
    "LOG_FILE_LIMIT",
    "NODE_SETTING_LIMIT",
    "OBJECTS_FILE_LIMIT",
    "REGISTRIES_CONF_LIMIT",
    "REPORTS_FILE_LIMIT",
    "SMALL_FILE_LIMIT",
    "STORE_LISTING_LIMIT",
    "UnsafeFile",
    "decode_text",
    "read_bytes",
    "read_stdin",
    "read_text",
    "read_text_or_stdin",
]

KiB = 1024
MiB = 1024 * KiB

#: One registries.conf or drop-in (MCO writes a few hundred KiB for thousands of mirror sets).
REGISTRIES_CONF_LIMIT = 4 * MiB
#: ``--images-file`` / the checks ConfigMap key (a ConfigMap holds at most 1 MiB).
CHECKS_FILE_LIMIT = 4 * MiB
KUBECONFIG_LIMIT = 8 * MiB
#: ``collect --from-file``: every node's report in one ConfigMapList (or a NodeList).
REPORTS_FILE_LIMIT = 512 * MiB
#: ``analyze LOG``: a debug log of one pull, or a CRI-O journal excerpt.
LOG_FILE_LIMIT = 64 * MiB
#: ``agent plan -f``: mirror-set objects (oc-mirror writes a few MiB for thousands of
#: repositories).
OBJECTS_FILE_LIMIT = 64 * MiB
#: proxy.env, storage.conf.
NODE_SETTING_LIMIT = 1 * MiB
#: The kubelet's pull secret (config.json).
AUTH_FILE_LIMIT = 4 * MiB
#: containers/storage's images.json of the node's store.
STORE_LISTING_LIMIT = 256 * MiB
#: /etc/hostname, the service account's namespace and token.
SMALL_FILE_LIMIT = 64 * KiB

Problem = Literal["unreadable", "permission", "not-regular", "too-large", "not-utf8"]
_BOM = b"\xef\xbb\xbf"


class UnsafeFile(AgentError):
    """A file the agent refuses to read, or cannot; ``problem`` says which."""

    def __init__(
        self,
        path: str,
        problem: Problem,
        message: str,
        *,
        line: Optional[int] = None,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path
        self.problem = problem
        self.detail = message
        self.line = line
        # A file the agent may not open is the environment's fault (not root), not the file's.
        self.exit_code = ExitCode.ENVIRONMENT if problem == "permission" else ExitCode.BAD_INPUT


def _size(count: int) -> str:
    if count >= MiB and count % MiB == 0:
        return f"{count // MiB} MiB"
    if count >= KiB and count % KiB == 0:
        return f"{count // KiB} KiB"
    return f"{count} bytes"


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _too_large(shown: str, limit: int) -> UnsafeFile:
    return UnsafeFile(
        shown,
        "too-large",
        f"larger than the {_size(limit)} the agent reads of such a file",
        hint="the limits are listed in docs/limits.md",
    )


def read_bytes(
    path: Union[str, Path], *, limit: int, missing_ok: bool = False, shown: Optional[str] = None
) -> Optional[bytes]:
    """The content of the regular file ``path``, at most ``limit`` bytes; None when it does
    not exist and ``missing_ok``. Never blocks on a FIFO or a device."""
    name = shown or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise UnsafeFile(name, "unreadable", "no such file") from None
    except PermissionError as exc:
        raise UnsafeFile(name, "permission", f"cannot open: {exc.strerror or exc}") from None
    except OSError as exc:  # ELOOP, ENOTDIR, ENXIO (a socket), EISDIR...
        raise UnsafeFile(name, "unreadable", f"cannot open: {exc.strerror or exc}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeFile(
                name, "not-regular", f"is {_kind_of(status.st_mode)}; only regular files are read"
            )
        if status.st_size > limit:
            raise _too_large(name, limit)
        chunks: list[bytes] = []
        remaining = limit + 1  # one byte more tells a file that grew past the limit
        while remaining > 0:
            chunk = os.read(fd, min(remaining, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except PermissionError as exc:
        raise UnsafeFile(name, "permission", f"cannot read: {exc.strerror or exc}") from None
    except OSError as exc:
        raise UnsafeFile(name, "unreadable", f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(name, limit)
    return data


def decode_text(data: bytes, shown: str, *, lenient: bool = False) -> str:
    """UTF-8 text without a leading byte-order mark; an error names the line and byte.
    ``lenient`` (logs): a byte that is not UTF-8 becomes U+FFFD instead."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if lenient:
        return data.decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UnsafeFile(
            shown,
            "not-utf8",
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            f"(byte offset {exc.start})",
            line=line,
        ) from None


def read_text(
    path: Union[str, Path],
    *,
    limit: int,
    missing_ok: bool = False,
    shown: Optional[str] = None,
    lenient: bool = False,
) -> Optional[str]:
    """:func:`read_bytes`, decoded as UTF-8 (:func:`decode_text`)."""
    data = read_bytes(path, limit=limit, missing_ok=missing_ok, shown=shown)
    return None if data is None else decode_text(data, shown or str(path), lenient=lenient)


def read_stdin(*, limit: int, shown: str = "standard input", lenient: bool = False) -> str:
    """Standard input as UTF-8 text, at most ``limit`` bytes."""
    stream = getattr(sys.stdin, "buffer", None)
    try:
        data = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1).encode()
    except OSError as exc:
        raise UnsafeFile(shown, "unreadable", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _too_large(shown, limit)
    return decode_text(data, shown, lenient=lenient)


def read_text_or_stdin(path: Union[str, Path], *, limit: int, lenient: bool = False) -> str:
    """``-`` is standard input; anything else a file (which must exist)."""
    if str(path) == "-":
        return read_stdin(limit=limit, lenient=lenient)
    text = read_text(path, limit=limit, lenient=lenient)
    assert text is not None  # missing_ok is False
    return text
