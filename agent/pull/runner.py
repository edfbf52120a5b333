"""The one wrapper around external commands: podman, skopeo and journalctl on the node.

Every external command the agent runs goes through :func:`run_command`: an argument list
(never a shell), its own session and process group, stdout and stderr read concurrently,
a wall-clock timeout that stops the whole group (SIGTERM, a grace period, then SIGKILL),
and the child stopped as well when the agent itself is interrupted (Ctrl-C, SIGTERM).

:class:`NodeRunner` builds the commands the way the container runtime on the node would
pull (docs/pull-resolution.md §6): inside ``chroot <host root>`` when the node's
filesystem is mounted elsewhere (``/host`` in a debug pod or the DaemonSet), with the
node's global pull secret as ``--authfile``, the proxy variables CRI-O gets from
``/etc/mco/proxy.env``, never ``--tls-verify=false``, and, by default, a throw-away
container store under the node's ``/var/tmp`` so that a check never adds an image to
the store CRI-O uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import json
import logging
import os
import queue
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Callable, Optional

import psutil

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

from agent.errors import EnvironmentFailure, ExitCode, UsageError
from agent.registries.hostfiles import HostRoot

__all__ = [
    "DEFAULT_GRACE",
    "NODE_PATH",
    "CheckEnvironmentError",
    "CommandNotFound",
    "CommandResult",
    "NodeRunner",
    "NodeSettings",
    "Terminated",
    "parse_proxy_env",
    "run_command",
    "stop_signals_raise",
]

_log = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when a command times out (podman needs a moment
#: to log ``Received shutdown signal`` and release its storage locks).
DEFAULT_GRACE = 5.0
#: The same when the agent itself is interrupted: the user is waiting.
INTERRUPT_GRACE = 2.0
#: How long output is still read after the command exited while something it started
#: keeps the pipes open; whatever is left in its process group is then killed.
_DRAIN_AFTER_EXIT = 2.0
_REAP_TIMEOUT = 10.0
_READ_CHUNK = 65536
_POLL = 0.1

#: PATH given to every command on the node (RHCOS keeps podman and skopeo in /usr/bin).
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
AUTH_FILE = "/var/lib/kubelet/config.json"
PROXY_ENV_FILE = "/etc/mco/proxy.env"
PROXY_VARIABLES = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
)
#: podman 4.3 refuses a run root longer than this.
_RUNROOT_MAX = 50
#: A scratch store unlocked and untouched for this long was left by an agent that died.
_STALE_AFTER = 600.0
#: The node's image store (CRI-O's and podman's), written by --storage node pulls.
NODE_STORE = "/var/lib/containers/storage"
STORAGE_CONF = "/etc/containers/storage.conf"

_INSTALL_HINTS = {
    "podman": "install podman (RHCOS ships it; on RHEL/Fedora: dnf install podman)",
    "skopeo": "install skopeo (RHCOS ships it; on RHEL/Fedora: dnf install skopeo)",
    "chroot": "install coreutils in the agent's image (chroot runs the tools on the node)",
    "journalctl": "install systemd (journalctl reads CRI-O's journal)",
}


# --------------------------------------------------------------------------------------
# errors and results


class CommandNotFound(EnvironmentFailure):
    """An executable the agent needs is missing (on the agent's side or on the node)."""

    kind = "command-not-found"

    def __init__(self, executable: str, *, where: str = "", detail: str = "") -> None:
        name = os.path.basename(executable) or executable
        place = f" {where}" if where else ""
        reason = f": {detail}" if detail else ""
        super().__init__(
            f"cannot run {executable!r}{place}{reason}",
            hint=_INSTALL_HINTS.get(name, f"install {name} or put it on PATH"),
        )
        self.executable = executable


class CheckEnvironmentError(EnvironmentFailure):
    """The node cannot host the check: no disk space, no chroot, no scratch folder..."""

    kind = "environment"


class Terminated(SystemExit):
    """The agent got SIGTERM while a command ran; the command has been stopped.

    A :class:`SystemExit` (exit status 143) so that ``finally`` blocks run and the
    process ends as a terminated process would, unless a caller catches it.
    """

    def __init__(self) -> None:
        super().__init__(int(ExitCode.TERMINATED))


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: Optional[int]
    """None when the command had to be killed."""
    stdout: str
    stderr: str
    timed_out: bool
    duration: float
    """Seconds, from start until the command (and its process group) was gone."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


# --------------------------------------------------------------------------------------
# signals: SIGTERM/SIGINT become exceptions while commands run; cleanups can defer them


class _SignalGuard:
    """While active (main thread only), SIGTERM raises :class:`Terminated` and SIGINT
    raises KeyboardInterrupt; inside :meth:`deferred` both are held until the block ends.

    Handlers are only installed where Python's defaults are in place: a handler the
    application set itself is left alone.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._deferring = 0
        self._pending: Optional[int] = None
        self._previous: dict[int, Any] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self._depth == 0:
            self._install()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._restore()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if self._deferring == 0 and self._pending is not None:
                signum, self._pending = self._pending, None
                raise self._exception(signum)

    def _install(self) -> None:
        self._previous = {}
        defaults = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
        for signum, default in defaults.items():
            if signal.getsignal(signum) is default:
                self._previous[signum] = signal.signal(signum, self._handle)

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self._deferring:
            self._pending = signum
            return
        raise self._exception(signum)

    @staticmethod
    def _exception(signum: int) -> BaseException:
        return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


_SIGNALS = _SignalGuard()


def stop_signals_raise() -> contextlib.AbstractContextManager[None]:
    """For a long-running caller (``agent run``): while active, SIGTERM raises
    :class:`Terminated` and SIGINT KeyboardInterrupt between commands too, and the
    sections that must not be cut short (starting a command, stopping it, removing a
    scratch store) still finish before the exception is raised.

    A handler of the caller's own would bypass those sections, so none should be set.
    """
    return _SIGNALS.active()


# --------------------------------------------------------------------------------------
# run_command


def _signal_quietly(action: Callable[[], None]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, psutil.Error):
        action()


_STDOUT, _STDERR = "stdout", "stderr"


def _read_stream(stream: IO[bytes], tag: str, chunks: queue.Queue[tuple[str, bytes]]) -> None:
    """Reader thread: forward chunks as they come, an empty one at end of file; the
    thread closes its stream (a leftover process may hold the pipe open for long)."""
    try:
        while True:
            data = stream.read1(_READ_CHUNK)  # type: ignore[attr-defined]
            if not data:
                break
            chunks.put((tag, bytes(data)))
    except (OSError, ValueError):
        pass
    finally:
        chunks.put((tag, b""))
        with contextlib.suppress(OSError, ValueError):
            stream.close()


class _Child:
    """A started command (a real child process): its output, its process group, and
    how to stop all of it."""

    def __init__(
        self, popen: subprocess.Popen[bytes], on_stderr_line: Optional[Callable[[str], None]]
    ) -> None:
        self.popen = popen
        self.real = popen.pid > 1  # checked by run_command; kept as a second guard
        self.pgid = popen.pid  # start_new_session: the child leads its own group
        self.on_stderr_line = on_stderr_line
        self.output = {_STDOUT: bytearray(), _STDERR: bytearray()}
        self._partial = bytearray()
        self._chunks: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._open: set[str] = set()
        for tag, stream in ((_STDOUT, popen.stdout), (_STDERR, popen.stderr)):
            assert stream is not None
            self._open.add(tag)
            threading.Thread(
                target=_read_stream,
                args=(stream, tag, self._chunks),
                name=f"run_command {tag} of {popen.pid}",
                daemon=True,
            ).start()
        self._exited_at: Optional[float] = None
        self._known: dict[int, psutil.Process] = {}
        self._pidfd = _open_pidfd(popen.pid) if self.real else None

    # -- reading ---------------------------------------------------------------------

    @property
    def streams_open(self) -> bool:
        return bool(self._open)

    def pump(self, timeout: float) -> None:
        """Take the output that arrives within ``timeout`` seconds (at least one chunk
        if any comes), then whatever else is already there."""
        if not self._open:
            self._idle(max(0.0, timeout))
            return
        try:
            item = self._chunks.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return
        while True:
            self._take(*item)
            try:
                item = self._chunks.get_nowait()
            except queue.Empty:
                return

    def _take(self, tag: str, data: bytes) -> None:
        if not data:
            self._open.discard(tag)
            if tag == _STDERR and self._partial:
                line, self._partial = bytes(self._partial), bytearray()
                self._emit(line)
            return
        self.output[tag].extend(data)
        if tag == _STDERR:
            self._partial.extend(data)
            while True:
                end = self._partial.find(b"\n")
                if end < 0:
                    break
                line = bytes(self._partial[:end])
                del self._partial[: end + 1]
                self._emit(line)

    def _emit(self, line: bytes) -> None:
        if self.on_stderr_line is not None:
            self.on_stderr_line(line.rstrip(b"\r").decode("utf-8", "replace"))

    def _idle(self, timeout: float) -> None:
        """Nothing left to read: wait for the child to exit (woken at once by its pidfd,
        where the kernel has them) or, once it has, a short moment for its leftovers."""
        if self._pidfd is not None and not self.exited():
            select.select([self._pidfd], [], [], timeout)
        else:
            time.sleep(min(timeout, 0.005))

    def drain(self, timeout: float) -> None:
        """Read until both pipes are at end of file, for at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._open:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.pump(min(remaining, _POLL))

    def text(self, tag: str) -> str:
        return self.output[tag].decode("utf-8", "replace")

    # -- the process -----------------------------------------------------------------

    def exited(self) -> bool:
        """Whether the child has exited. A real child is not reaped here, so its PID
        (and process group ID) cannot be reused while the group may still be signalled."""
        if self.popen.returncode is not None:
            return True
        if not self.real:
            return self.popen.poll() is not None
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if info is None:
            return False
        if self._exited_at is None:
            self._exited_at = time.monotonic()
        return True

    def lingering(self) -> bool:
        """The child exited a while ago but something it started holds the pipes."""
        return (
            self._exited_at is not None and time.monotonic() - self._exited_at > _DRAIN_AFTER_EXIT
        )

    def _remember_descendants(self) -> None:
        """Note every descendant now: one that leaves the group (setsid) is still found
        by its identity (PID + start time) when the group is killed."""
        if not self.real:
            return
        with contextlib.suppress(psutil.Error):
            for process in psutil.Process(self.popen.pid).children(recursive=True):
                self._known.setdefault(process.pid, process)

    def _signal_all(self, signum: int) -> None:
        if not self.real:
            with contextlib.suppress(OSError):
                self.popen.send_signal(signum)
            return
        _signal_quietly(functools.partial(os.killpg, self.pgid, signum))
        for process in list(self._known.values()):
            _signal_quietly(functools.partial(process.send_signal, signum))

    def _alive_known(self) -> list[psutil.Process]:
        """Known descendants still running (a zombie is dead: it only waits for a reaper)."""
        alive = []
        for process in self._known.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
        return alive

    def _quiet(self) -> bool:
        return self.exited() and not self._open and not self._alive_known()

    def stop(self, grace: float) -> None:
        """SIGTERM to the group and every known descendant, keep reading for ``grace``
        seconds, then SIGKILL whatever is left (also when interrupted meanwhile)."""
        try:
            self._remember_descendants()
            self._signal_all(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not self._quiet():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._remember_descendants()
                self.pump(min(remaining, _POLL))
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the group and every known descendant, then reap the child."""
        self._remember_descendants()
        self._signal_all(signal.SIGKILL)
        deadline = time.monotonic() + 1.0
        while self._alive_known() and time.monotonic() < deadline:
            time.sleep(0.01)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(_REAP_TIMEOUT)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _open_pidfd(pid: int) -> Optional[int]:
    """A file descriptor that becomes readable when ``pid`` exits (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _start(args: tuple[str, ...], env: Optional[Mapping[str, str]]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            list(args),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except (FileNotFoundError, NotADirectoryError):
        raise CommandNotFound(args[0], detail="no such executable on PATH") from None
    except PermissionError as exc:
        raise CommandNotFound(args[0], detail=exc.strerror or "permission denied") from None


def _is_own_child(pid: int) -> bool:
    """Whether ``pid`` is a child of this process that has not been reaped.

    Popen test doubles (pytest-subprocess) hand out small counters as PIDs; signalling
    those, or their "group", would hit unrelated processes (``killpg(0)``: the agent).
    """
    if pid <= 0:
        return False
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except (ChildProcessError, OSError):
        return False
    return True


def _run_double(
    popen: subprocess.Popen[bytes],
    args: tuple[str, ...],
    started: float,
    timeout: float,
    on_stderr_line: Optional[Callable[[str], None]],
) -> CommandResult:
    """A Popen that is not our child (a test double) has no process group to stop and
    no pipes to stream: take its output through ``communicate`` instead."""
    try:
        out, err = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        popen.terminate()
        popen.kill()
        return CommandResult(args, None, "", "", True, time.monotonic() - started)
    stderr = (err or b"").decode("utf-8", "replace")
    if on_stderr_line is not None:
        for line in stderr.splitlines():
            on_stderr_line(line)
    return CommandResult(
        argv=args,
        exit_code=popen.returncode,
        stdout=(out or b"").decode("utf-8", "replace"),
        stderr=stderr,
        timed_out=False,
        duration=time.monotonic() - started,
    )


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Optional[Mapping[str, str]] = None,
    on_stderr_line: Optional[Callable[[str], None]] = None,
    grace: float = DEFAULT_GRACE,
) -> CommandResult:
    """Run ``argv`` (no shell) with a wall-clock ``timeout`` and capture its output.

    The child runs in its own session (its own process group, no controlling terminal,
    stdin from /dev/null) with exactly ``env`` as its environment when given (the
    executable is looked up on that ``env``'s PATH). stdout and stderr are read as they
    come; ``on_stderr_line`` gets each stderr line (without the newline) in order, in
    the calling thread. A non-zero exit is a result, not an error.

    On timeout the whole group, and any descendant that left it, gets SIGTERM, then
    SIGKILL after ``grace`` seconds; the result has ``timed_out=True``,
    ``exit_code=None`` and the output captured until then. When the command exits,
    whatever it left behind in its process group is killed. If the agent is
    interrupted meanwhile (KeyboardInterrupt, SIGTERM as :class:`Terminated`, or an
    exception from ``on_stderr_line``), the command is stopped the same way before the
    exception propagates.

    Raises :class:`CommandNotFound` when the executable does not exist or cannot be run.
    """
    args = tuple(os.fspath(arg) for arg in argv)
    if not args:
        raise ValueError("run_command needs a command")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    with _SIGNALS.active():
        started = time.monotonic()
        child: Optional[_Child] = None
        timed_out = False
        try:
            # Ctrl-C/SIGTERM between the fork and the bookkeeping would orphan the child.
            with _SIGNALS.deferred():
                popen = _start(args, env)
                if not _is_own_child(popen.pid):
                    return _run_double(popen, args, started, timeout, on_stderr_line)
                child = _Child(popen, on_stderr_line)
            deadline = started + timeout
            while True:
                if child.exited() and (not child.streams_open or child.lingering()):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                child.pump(min(remaining, _POLL))
            if timed_out:
                child.stop(grace)
            else:
                child.kill()  # leftovers in the group; the child itself is done
            child.drain(1.0)
        except BaseException:
            if child is not None:
                with _SIGNALS.deferred():
                    child.stop(min(grace, INTERRUPT_GRACE))
            raise
        return CommandResult(
            argv=args,
            exit_code=None if timed_out else popen.returncode,
            stdout=child.text(_STDOUT),
            stderr=child.text(_STDERR),
            timed_out=timed_out,
            duration=time.monotonic() - started,
        )


# --------------------------------------------------------------------------------------
# the node


_PROXY_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_proxy_env(text: str) -> dict[str, str]:
    """The proxy variables of an ``/etc/mco/proxy.env`` (systemd EnvironmentFile syntax).

    ``KEY=VALUE`` lines; blank lines and ``#``/``;`` comments are skipped; an ``export``
    prefix and single or double quotes around the value are tolerated. Only
    ``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY`` and their lower-case forms are kept;
    empty values are dropped (Go treats them as unset).
    """
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _PROXY_LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2).strip()
        quote = value[:1]
        if len(value) >= 2 and quote in ("'", '"') and value.endswith(quote):
            value = value[1:-1]
            if quote == '"':
                value = re.sub(r"\\(.)", r"\1", value)
        if key in PROXY_VARIABLES and value:
            found[key] = value
    return found


@dataclass(frozen=True)
class NodeSettings:
    """What the container runtime on this node pulls with (docs/pull-resolution.md §6)."""

    host_root: Path
    """The node's ``/`` as the agent sees it: ``/`` or e.g. ``/host``."""
    auth_file: Optional[str]
    """Node path of CRI-O's global pull secret when the node has one, else None."""
    proxy_env: dict[str, str] = field(default_factory=dict)
    """Proxy variables from the node's ``/etc/mco/proxy.env``."""

    @classmethod
    def detect(cls, host_root: Path) -> NodeSettings:
        root = Path(host_root).absolute()
        if not root.is_dir():
            raise CheckEnvironmentError(
                f"the host root {root} is not a directory",
                hint="mount the node's / (hostPath) and pass it with --host-root",
            )
        host = HostRoot(root)
        auth_file = AUTH_FILE if host.resolve(AUTH_FILE).is_file() else None
        proxy_path = host.resolve(PROXY_ENV_FILE)
        try:
            proxy_text = proxy_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            proxy_text = ""
        except OSError as exc:
            raise CheckEnvironmentError(
                f"cannot read the node's proxy settings {proxy_path}: {exc.strerror or exc}"
            ) from None
        return cls(host_root=root, auth_file=auth_file, proxy_env=parse_proxy_env(proxy_text))


_STORAGE_MODES = ("scratch", "node")
_PODMAN_VERSION = re.compile(r"^podman(?:-remote)? version (\S+)\s*$", re.M)
_CHROOT_FAILED_TO_RUN = re.compile(r"^chroot: failed to run command '?(.+?)'?: (.+)$", re.M)
_CHROOT_CANNOT_CHANGE = re.compile(r"^chroot: cannot change root directory to .*$", re.M)


def _major(release: Optional[str]) -> int:
    """4 for ``4.3.1``; 0 when unknown."""
    head = (release or "").split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _size(value: int) -> str:
    return f"{value / 1024**3:.2f} GiB ({value} bytes)"


class NodeRunner:
    """podman, skopeo and journalctl run as the node's container runtime would.

    ``storage="scratch"`` (the default) pulls into a fresh store under the node's
    ``scratch_parent`` that is removed afterwards; ``storage="node"`` pulls into the
    node's own store, as the manual procedure does. Every command goes through
    ``run`` (:func:`run_command` unless a test fakes it).
    """

    def __init__(
        self,
        settings: NodeSettings,
        *,
        storage: str = "scratch",
        timeout: float = 300.0,
        min_free_bytes: int = 2 * 1024**3,
        scratch_parent: str = "/var/tmp",
        storage_driver: Optional[str] = None,
        run: Callable[..., CommandResult] = run_command,
    ) -> None:
        if storage not in _STORAGE_MODES:
            raise UsageError(f"storage must be 'scratch' or 'node', not {storage!r}")
        if storage_driver is not None and storage != "scratch":
            raise UsageError(
                "a storage driver can only be chosen for the scratch store, "
                "never for the node's own store"
            )
        if storage_driver is not None and not re.fullmatch(r"[a-z0-9_-]+", storage_driver):
            raise UsageError(f"not a storage driver name: {storage_driver!r}")
        if timeout <= 0:
            raise UsageError(f"the timeout must be positive, not {timeout}")
        if not scratch_parent.startswith("/"):
            raise UsageError(f"the scratch folder must be an absolute node path: {scratch_parent}")
        self.settings = settings
        self.storage = storage
        self.timeout = timeout
        self.min_free_bytes = min_free_bytes
        self.scratch_parent = scratch_parent.rstrip("/") or "/"
        self.storage_driver = storage_driver
        self._run = run
        self._host = HostRoot(settings.host_root)
        #: the node's podman release once :meth:`podman_version` has read it
        self.podman_release: Optional[str] = None

    # -- building blocks -------------------------------------------------------------

    @property
    def chrooted(self) -> bool:
        return self.settings.host_root != Path("/")

    def node_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run on the node: inside ``chroot <host root>`` unless it is ``/``."""
        if self.chrooted:
            return ["chroot", str(self.settings.host_root), *argv]
        return list(argv)

    def agent_path(self, node_path: str) -> Path:
        """Where the node's ``node_path`` is on the agent's side (symlinks confined)."""
        return self._host.resolve(node_path)

    def child_env(self, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """The complete environment of a command: nothing from the agent's own."""
        env = {"PATH": NODE_PATH, "LANG": "C", "HOME": "/root"}
        env.update(self.settings.proxy_env)
        env.update(extra or {})
        return env

    def _node_run(
        self,
        argv: Sequence[str],
        *,
        extra_env: Optional[Mapping[str, str]] = None,
        on_stderr_line: Optional[Callable[[str], None]] = None,
        timeout: Optional[float] = None,
    ) -> CommandResult:
        result = self._run(
            self.node_argv(argv),
            timeout=self.timeout if timeout is None else timeout,
            env=self.child_env(extra_env),
            on_stderr_line=on_stderr_line,
        )
        if self.chrooted and not result.timed_out:
            self._check_chroot(result, argv[0])
        return result

    def _check_chroot(self, result: CommandResult, executable: str) -> None:
        where = f"on the node (chroot {self.settings.host_root})"
        if result.exit_code in (126, 127):
            failed = _CHROOT_FAILED_TO_RUN.search(result.stderr)
            if failed is not None:
                raise CommandNotFound(executable, where=where, detail=failed.group(2))
        if result.exit_code == 125:
            cannot = _CHROOT_CANNOT_CHANGE.search(result.stderr)
            if cannot is not None:
                raise CheckEnvironmentError(
                    f"cannot enter the node's filesystem: {cannot.group(0)}",
                    hint="the agent must run as root in a privileged container "
                    "with the node's / mounted (hostPath)",
                )

    @staticmethod
    def _check_reference(reference: str) -> None:
        if (
            not reference
            or reference.startswith("-")
            or any(ch.isspace() or ord(ch) < 32 for ch in reference)
        ):
            raise UsageError(f"not an image reference: {reference!r}")

    # -- commands --------------------------------------------------------------------

    def podman_version(self) -> Optional[str]:
        """podman's version on the node (``4.3.1``), or None if it cannot tell.

        ``podman --version`` only reads configuration files; ``podman version`` would
        set up the runtime on the node's own store (CRI-O's), creating podman's database
        and lock files there.
        """
        try:
            result = self._node_run(["podman", "--version"], timeout=min(self.timeout, 60.0))
        except CommandNotFound:
            return None
        match = _PODMAN_VERSION.search(result.stdout)
        if not result.ok or match is None:
            return None
        self.podman_release = match.group(1)
        return self.podman_release

    def podman_version_soon(self) -> Callable[[], Optional[str]]:
        """:meth:`podman_version` started now in a thread; calling the result waits for it.

        The check starts it first and imports and loads its own code meanwhile, so the
        ~20 ms of ``podman --version`` are not added to every check. An error it raised
        is raised by the call.
        """
        outcome: list[Any] = []

        def ask() -> None:
            try:
                outcome.append(self.podman_version())
            except BaseException as exc:  # handed to the caller, never lost in the thread
                outcome.append(exc)

        thread = threading.Thread(target=ask, name="podman --version", daemon=True)
        thread.start()

        def answer() -> Optional[str]:
            thread.join()
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            return outcome[0]  # type: ignore[no-any-return]

        return answer

    def pull_argv(self, reference: str, scratch: Optional[str] = None) -> list[str]:
        """The podman command (before chroot) for ``reference``; ``scratch`` is the node
        path of the throw-away store, None for the node's own store."""
        self._check_reference(reference)
        argv = ["podman"]
        if scratch is not None:
            argv += ["--root", f"{scratch}/root", "--runroot", f"{scratch}/run"]
            if self.storage_driver:
                argv += ["--storage-driver", self.storage_driver]
            # The rest of podman's state stays in the scratch folder too: with the node's
            # /run/libpod, a scratch podman that is the first since boot creates its "alive"
            # file, and the node's own podman then skips its after-boot refresh (two
            # containers can end up with one lock). No events in the node's journal.
            argv += ["--tmpdir", f"{scratch}/libpod", "--events-backend", "none"]
            argv += ["--network-config-dir", f"{scratch}/networks"]
        argv += ["pull", "--log-level=debug"]
        if _major(self.podman_release) >= 5:
            # CRI-O walks the sources once; podman 5 retries the whole list 3 times unless
            # told not to (4.x cannot be told), which turns a failure into a timeout
            argv += ["--retry", "0"]
        if self.settings.auth_file:
            argv += ["--authfile", self.settings.auth_file]
        return [*argv, "--", reference]

    def pull(
        self, reference: str, *, on_stderr_line: Optional[Callable[[str], None]] = None
    ) -> CommandResult:
        """``podman pull --log-level=debug`` of ``reference``, as CRI-O would resolve it.

        Into the scratch store, or with ``storage="node"`` into the node's own; either way
        c/image's temporary blob files go to the scratch folder's ``tmp/`` (TMPDIR), not to
        the node's /var/tmp, where a podman killed at the timeout would leave them.
        """
        self._check_reference(reference)
        with self.scratch_store() as scratch:
            store = scratch if self.storage == "scratch" else None
            return self._node_run(
                self.pull_argv(reference, store),
                extra_env={"TMPDIR": f"{scratch}/tmp"},
                on_stderr_line=on_stderr_line,
            )

    def inspect_manifest(
        self,
        reference: str,
        *,
        registries_conf: Optional[str] = None,
        on_stderr_line: Optional[Callable[[str], None]] = None,
    ) -> CommandResult:
        """``skopeo --debug inspect --raw``: the manifest only, through the same mirrors.

        ``registries_conf`` is a node path of a registries.conf used instead of the
        node's main file (``--registries-conf``, and ``CONTAINERS_REGISTRIES_CONF`` for
        releases that read it); the node's drop-ins in
        ``/etc/containers/registries.conf.d`` still apply.
        """
        self._check_reference(reference)
        argv = ["skopeo", "--debug"]
        extra: dict[str, str] = {}
        if registries_conf is not None:
            if not registries_conf.startswith("/"):
                raise UsageError(
                    f"registries_conf must be an absolute node path: {registries_conf}"
                )
            # skopeo 1.9 ignores the variable (it reads /etc/containers/registries.conf
            # anyway); its hidden global flag --registries-conf works (checked: 1.9.3)
            argv += ["--registries-conf", registries_conf]
            extra["CONTAINERS_REGISTRIES_CONF"] = registries_conf
        argv += ["inspect", "--raw"]
        if self.settings.auth_file:
            argv += ["--authfile", self.settings.auth_file]
        argv.append(f"docker://{reference}")
        return self._node_run(argv, extra_env=extra, on_stderr_line=on_stderr_line)

    def node_graphroot(self) -> str:
        """The node path of the node's image store: storage.conf's graphroot, else the
        default (RHCOS keeps the default)."""
        conf_path = self.agent_path(STORAGE_CONF)
        try:
            conf = tomllib.loads(conf_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return NODE_STORE
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CheckEnvironmentError(f"cannot read the node's {conf_path}: {exc}") from None
        storage = conf.get("storage") if isinstance(conf.get("storage"), dict) else {}
        graphroot = storage.get("graphroot")
        return graphroot if isinstance(graphroot, str) and graphroot.startswith("/") else NODE_STORE

    def node_store_images(self) -> list[dict[str, Any]]:
        """The image records of the node's own store, read from containers/storage's
        ``<graphroot>/<driver>-images/images.json`` (written atomically; read here without
        its lock). Nothing runs: ``podman images`` would set up podman's runtime in CRI-O's
        store (its database, and a network backend pinned to CNI when images exist).
        """
        records: list[dict[str, Any]] = []
        store = self.agent_path(self.node_graphroot())
        for listing in sorted(store.glob("*-images/images.json")):
            try:
                document = json.loads(listing.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CheckEnvironmentError(f"cannot read the node's {listing}: {exc}") from None
            records += [item for item in document if isinstance(item, dict)]
        return records

    def crio_journal(self, since: str = "-24h") -> CommandResult:
        """CRI-O's journal on the node (``Trying to access`` lines are logged at info)."""
        if not since or any(ord(ch) < 32 for ch in since):
            raise UsageError(f"not a journalctl time: {since!r}")
        return self._node_run(
            ["journalctl", "-u", "crio", "--since", since, "--no-pager", "-o", "short-iso"]
        )

    # -- files and folders on the node -----------------------------------------------

    def _scratch_parent(self) -> Path:
        parent = self.agent_path(self.scratch_parent)
        if not parent.is_dir():
            raise CheckEnvironmentError(
                f"the scratch folder {parent} (node path {self.scratch_parent}) "
                "does not exist or is not a directory"
            )
        return parent

    def check_free_space(self) -> None:
        """CheckEnvironmentError when a filesystem the pull writes to has too little room:
        the scratch folder, and with ``storage="node"`` the node's image store."""
        places = [(self._scratch_parent(), self.scratch_parent)]
        if self.storage == "node":
            graphroot = self.node_graphroot()
            places.append((self.agent_path(graphroot), graphroot))
        for path, node_path in places:
            if not path.exists():
                continue  # no store yet: podman creates it on the scratch folder's disk
            try:
                free = int(psutil.disk_usage(str(path)).free)
            except OSError as exc:
                raise CheckEnvironmentError(
                    f"cannot measure the free space of {path}: {exc.strerror or exc}"
                ) from None
            if free < self.min_free_bytes:
                raise CheckEnvironmentError(
                    f"not enough free space in {path} (node path {node_path}) for a pull: "
                    f"{_size(free)} free, {_size(self.min_free_bytes)} required",
                    hint="free space on the node, or lower the requirement (--min-free-gib); "
                    "the kubelet starts deleting images at 85% use",
                )

    def sweep_stale_stores(self) -> list[str]:
        """Remove scratch stores left by an agent that died before it could (SIGKILL, OOM,
        a reboot mid-pull): older than a few minutes and not locked by a running agent.
        Returns what was removed (node paths)."""
        parent = self._scratch_parent()
        removed = []
        with contextlib.suppress(OSError):
            for entry in parent.iterdir():
                if not entry.name.startswith("mirror-agent-") or not entry.is_dir():
                    continue
                try:
                    if time.time() - entry.lstat().st_mtime < _STALE_AFTER:
                        continue  # may be a store another agent is only now setting up
                    in_use = _lock_store(entry)
                except OSError:
                    continue
                if in_use is None:
                    continue  # a running agent holds it
                try:
                    with _SIGNALS.deferred():
                        problems = remove_tree(entry)
                finally:
                    os.close(in_use)
                if not problems:
                    removed.append(f"{self.scratch_parent.rstrip('/')}/{entry.name}")
        return removed

    @contextlib.contextmanager
    def scratch_store(self) -> Iterator[str]:
        """A fresh folder under the node's scratch parent; yields its node path.

        It holds ``tmp/`` (for TMPDIR); podman creates ``root/`` and ``run/`` itself. It is
        locked while in use, so that another agent's :meth:`sweep_stale_stores` leaves it.

        Removed afterwards in every case (also on timeout, error, Ctrl-C or SIGTERM, even
        one that arrives while it is being created), after unmounting what the storage
        driver left mounted in it.
        """
        self.check_free_space()
        for stale in self.sweep_stale_stores():
            _log.warning("removed a scratch store left behind: %s", stale)
        parent = self._scratch_parent()
        with _SIGNALS.active():
            agent_dir: Optional[Path] = None
            lock: Optional[int] = None
            try:
                with _SIGNALS.deferred():  # a stop arriving now is raised inside the try
                    try:
                        agent_dir = Path(tempfile.mkdtemp(prefix="mirror-agent-", dir=str(parent)))
                        lock = _lock_store(agent_dir)
                        (agent_dir / "tmp").mkdir()
                    except OSError as exc:
                        raise CheckEnvironmentError(
                            f"cannot create a scratch folder in {parent}: {exc.strerror or exc}"
                        ) from None
                node_dir = f"{self.scratch_parent.rstrip('/')}/{agent_dir.name}"
                if len(f"{node_dir}/run") > _RUNROOT_MAX:
                    raise CheckEnvironmentError(
                        f"the scratch path {node_dir}/run is longer than podman's limit of "
                        f"{_RUNROOT_MAX} characters for --runroot; use a shorter scratch folder"
                    )
                yield node_dir
            except BaseException:
                if agent_dir is not None:
                    with _SIGNALS.deferred():
                        problems = remove_tree(agent_dir)
                    for problem in problems:
                        _log.warning("scratch store not fully removed: %s", problem)
                raise
            else:
                with _SIGNALS.deferred():
                    problems = remove_tree(agent_dir)
                if problems:
                    raise CheckEnvironmentError(
                        f"could not remove the scratch store {agent_dir}: " + "; ".join(problems),
                        hint="remove it by hand on the node (unmount what is mounted below it "
                        "first)",
                    )
            finally:
                if lock is not None:
                    os.close(lock)

    @contextlib.contextmanager
    def node_temp_file(self, content: str, *, suffix: str = ".conf") -> Iterator[str]:
        """A file holding ``content`` under the node's scratch parent; yields its node
        path (for ``inspect_manifest(registries_conf=...)``); removed afterwards."""
        parent = self._scratch_parent()
        try:
            fd, agent_file = tempfile.mkstemp(prefix="mirror-agent-", suffix=suffix, dir=parent)
        except OSError as exc:
            raise CheckEnvironmentError(
                f"cannot create a file in {parent}: {exc.strerror or exc}"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            yield f"{self.scratch_parent.rstrip('/')}/{os.path.basename(agent_file)}"
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(agent_file)


# --------------------------------------------------------------------------------------
# removing a scratch store

_MNT_DETACH = 2


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


def _lock_store(path: Path) -> Optional[int]:
    """An exclusive lock on a scratch store's folder (released when the descriptor is
    closed or the process dies), or None when another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


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
