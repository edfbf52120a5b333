"""Key material as file paths for TLS (requests wants files), never left on disk."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_private_dir: list[str] = []  # the fallback folder of this process, made on first use


def secret_file(content: bytes, suffix: str) -> str:
    """A path that reads ``content``.

    On Linux the bytes go to an anonymous in-memory file, named by its /proc/self/fd
    path, that disappears with the process, however it ends: a client key (often
    cluster-admin's) is never written to disk. Elsewhere they go to a private folder
    removed when the process exits. Paths are never reused within a process, so a
    connection pool keyed by path never mixes two certificates.
    """
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create(f"mirror-agent{suffix}")  # close-on-exec: no child gets it
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        return f"/proc/self/fd/{fd}"
    if not _private_dir:
        _private_dir.append(tempfile.mkdtemp(prefix="mirror-agent-kube-"))  # mode 0700
        atexit.register(shutil.rmtree, _private_dir[0], True)
    fd, path = tempfile.mkstemp(suffix=suffix, dir=_private_dir[0])
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return path
