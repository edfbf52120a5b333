"""Scratch stores: throw-away container stores on the node, so a check adds no image to
the store CRI-O uses.

Each store is a fresh ``mirror-agent-*`` folder under a node folder (``/var/tmp`` by
default), locked while in use and removed afterwards in every case (timeout, error,
Ctrl-C, SIGTERM), after unmounting what the storage driver left mounted in it. A store
left by an agent that died (SIGKILL, OOM, a reboot mid-pull) is swept by the next one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import psutil

from agent.errors import CheckEnvironmentError, UsageError
from agent.node.paths import HostRoot
from agent.process import stop_signals_deferred, stop_signals_raise

__all__ = [
    "NodeDiskFull",
    "ScratchFolder",
    "free_bytes",
    "lock_store",
    "mounts_below",
    "remove_tree",
    "require_free_space",
]

_log = logging.getLogger(__name__)

#: podman 4.3 refuses a run root longer than this.
RUNROOT_MAX = 50
#: A scratch store unlocked and untouched for this long was left by an agent that died.
STALE_AFTER = 600.0
_PREFIX = "mirror-agent-"


def _size(value: int) -> str:
    return f"{value / 1024**3:.2f} GiB ({value} bytes)"


class NodeDiskFull(CheckEnvironmentError):
    """The node's disk is (or would be) filled past the reserve by a pull: the node's
    problem, never the mirror's."""

    kind = "node-disk-full"


def free_bytes(path: Path) -> int:
    """Free bytes of the filesystem of ``path`` (OSError when it cannot be measured)."""
    return int(psutil.disk_usage(str(path)).free)


def require_free_space(path: Path, node_path: str, min_free_bytes: int) -> None:
    """CheckEnvironmentError when the filesystem of ``path`` (the node's ``node_path``)
    has less than ``min_free_bytes`` free; nothing to check while ``path`` does not
    exist (podman creates it on its parent's disk)."""
    if not path.exists():
        return
    try:
        free = int(psutil.disk_usage(str(path)).free)
    except OSError as exc:
        raise CheckEnvironmentError(
            f"cannot measure the free space of {path}: {exc.strerror or exc}"
        ) from None
    if free < min_free_bytes:
        raise NodeDiskFull(
            f"not enough free space in {path} (node path {node_path}) for a pull: "
            f"{_size(free)} free, {_size(min_free_bytes)} required",
            hint="free space on the node, or lower the requirement (--min-free-gib); "
            "the kubelet starts deleting images at 85% use",
        )


class ScratchFolder:
    """The node folder that holds scratch stores and temporary files (``node_path``, an
    absolute node path, seen by the agent through ``host``)."""

    def __init__(self, host: HostRoot, node_path: str) -> None:
        if not node_path.startswith("/"):
            raise UsageError(f"the scratch folder must be an absolute node path: {node_path}")
        self.host = host
        self.node_path = node_path.rstrip("/") or "/"
        #: The lock of the store :meth:`store` holds now (for the pull to inherit), or None.
        self.lock_fd: Optional[int] = None

    def agent_dir(self) -> Path:
        """The folder on the agent's side; CheckEnvironmentError when it is missing."""
        parent = self.host.resolve(self.node_path)
        if not parent.is_dir():
            raise CheckEnvironmentError(
                f"the scratch folder {parent} (node path {self.node_path}) "
                "does not exist or is not a directory"
            )
        return parent

    def _node_path_of(self, name: str) -> str:
        return f"{self.node_path.rstrip('/')}/{name}"

    def sweep_stale_stores(self) -> list[str]:
        """Remove scratch stores left by an agent that died before it could (SIGKILL, OOM,
        a reboot mid-pull): older than a few minutes and not locked by a running agent.
        Returns what was removed (node paths)."""
        parent = self.agent_dir()
        removed = []
        with contextlib.suppress(OSError):
            for entry in parent.iterdir():
                if not entry.name.startswith(_PREFIX) or not entry.is_dir():
                    continue
                try:
                    if time.time() - entry.lstat().st_mtime < STALE_AFTER:
                        continue  # may be a store another agent is only now setting up
                    in_use = lock_store(entry)
                except OSError:
                    continue
                if in_use is None:
                    continue  # a running agent holds it
                try:
                    with stop_signals_deferred():
                        problems = remove_tree(entry)
                finally:
                    os.close(in_use)
                if not problems:
                    removed.append(self._node_path_of(entry.name))
        return removed

    @contextlib.contextmanager
    def store(self) -> Iterator[str]:
        """Sweep stale stores, then make a fresh one; yields its node path.

        It holds ``tmp/`` (for TMPDIR); podman creates ``root/`` and ``run/`` itself. It is
        locked while in use, so that another agent's :meth:`sweep_stale_stores` leaves it.

        Removed afterwards in every case (also on timeout, error, Ctrl-C or SIGTERM, even
        one that arrives while it is being created), after unmounting what the storage
        driver left mounted in it.
        """
        for stale in self.sweep_stale_stores():
            _log.warning("removed a scratch store left behind: %s", stale)
        parent = self.agent_dir()
        with stop_signals_raise():
            agent_dir: Optional[Path] = None
            lock: Optional[int] = None
            try:
                with stop_signals_deferred():  # a stop arriving now is raised inside the try
                    try:
                        agent_dir = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=str(parent)))
                        lock = lock_store(agent_dir)
                        (agent_dir / "tmp").mkdir()
                    except OSError as exc:
                        raise CheckEnvironmentError(
                            f"cannot create a scratch folder in {parent}: {exc.strerror or exc}"
                        ) from None
                node_dir = self._node_path_of(agent_dir.name)
                if len(f"{node_dir}/run") > RUNROOT_MAX:
                    raise CheckEnvironmentError(
                        f"the scratch path {node_dir}/run is longer than podman's limit of "
                        f"{RUNROOT_MAX} characters for --runroot; use a shorter scratch folder"
                    )
                self.lock_fd = lock
                yield node_dir
            except BaseException:
                if agent_dir is not None:
                    with stop_signals_deferred():
                        problems = remove_tree(agent_dir)
                    for problem in problems:
                        _log.warning("scratch store not fully removed: %s", problem)
                raise
            else:
                with stop_signals_deferred():
                    problems = remove_tree(agent_dir)
                if problems:
                    raise CheckEnvironmentError(
                        f"could not remove the scratch store {agent_dir}: " + "; ".join(problems),
                        hint="remove it by hand on the node (unmount what is mounted below it "
                        "first)",
                    )
            finally:
                self.lock_fd = None
                if lock is not None:
                    os.close(lock)

    @contextlib.contextmanager
    def temp_file(self, content: str, *, suffix: str = ".conf") -> Iterator[str]:
        """A file holding ``content`` in the folder; yields its node path; removed
        afterwards."""
        parent = self.agent_dir()
        try:
            fd, agent_file = tempfile.mkstemp(prefix=_PREFIX, suffix=suffix, dir=parent)
        except OSError as exc:
            raise CheckEnvironmentError(
                f"cannot create a file in {parent}: {exc.strerror or exc}"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            yield self._node_path_of(os.path.basename(agent_file))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(agent_file)


# --------------------------------------------------------------------------------------
# locking and removing a store

_MNT_DETACH = 2


def lock_store(path: Path) -> Optional[int]:
    """An exclusive lock on a scratch store's folder (released when the descriptor is
    closed or the process dies), or None when another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unescape_mountinfo(field_text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def mounts_below(path: Path, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    top = os.path.realpath(path)
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = _unescape_mountinfo(fields[4])
        if point == top or point.startswith(top.rstrip("/") + "/"):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def _umount(point: str) -> Optional[str]:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.umount2(os.fsencode(point), _MNT_DETACH) == 0:
            return None
        code = ctypes.get_errno()
    except (OSError, AttributeError) as exc:
        return f"cannot unmount {point}: {exc}"
    if code == errno.EINVAL:  # not a mount point (any more)
        return None
    return f"cannot unmount {point}: {os.strerror(code)}"


def _make_writable(path: Path) -> None:
    """Give the owner full access to every directory below ``path`` (vfs and overlay
    layers may hold read-only directories; root usually does not need this)."""
    for directory, subdirs, _ in os.walk(path):
        for name in [directory, *(os.path.join(directory, sub) for sub in subdirs)]:
            with contextlib.suppress(OSError):
                mode = os.lstat(name).st_mode
                if stat.S_ISDIR(mode):
                    os.chmod(name, stat.S_IMODE(mode) | stat.S_IRWXU)


def remove_tree(path: Path) -> list[str]:
    """Unmount what is mounted below ``path``, then delete it; returns the problems."""
    problems: list[str] = []
    for point in mounts_below(path):
        problem = _umount(point)
        if problem:
            problems.append(problem)
    if problems:
        return problems  # never delete through a mount that is still there
    failures: list[str] = []

    def record(failed: str, error: BaseException) -> None:
        if not isinstance(error, FileNotFoundError):
            failures.append(f"{failed}: {getattr(error, 'strerror', None) or error}")

    for attempt in range(2):
        failures.clear()
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=lambda _f, p, e: record(p, e))
        else:
            shutil.rmtree(path, onerror=lambda _f, p, info: record(p, info[1]))
        if not os.path.lexists(path):
            return []
        if attempt == 0:
            _make_writable(path)
    return failures or [f"{path} still exists"]
