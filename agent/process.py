"""The one wrapper around external commands: the only module of the agent that starts one.

Every external command the agent runs goes through :func:`run_command`: an argument list
(never a shell), its own session and process group, stdout and stderr read concurrently,
a wall-clock timeout that stops the whole group (SIGTERM, a grace period, then SIGKILL),
and the child stopped as well when the agent itself is interrupted (Ctrl-C, SIGTERM).

While a command runs (or inside :func:`stop_signals_raise`), SIGTERM raises
:class:`Terminated` and SIGINT KeyboardInterrupt; :func:`stop_signals_deferred` holds both
until a section that must not be cut short (starting or stopping a command, removing a
scratch store) has finished.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import queue
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO, Callable, Optional, Union

import psutil

from agent.errors import EnvironmentFailure, ExitCode

# What signal.signal() takes and returns (None: a handler that was not set from Python).
_SignalHandler = Union[Callable[[int, Optional[FrameType]], object], int, signal.Handlers, None]

__all__ = [
    "DEFAULT_GRACE",
    "INTERRUPT_GRACE",
    "CommandNotFound",
    "CommandResult",
    "CommandStopped",
    "Terminated",
    "open_pidfd",
    "raise_if_stopped",
    "run_command",
    "stop_signals_deferred",
    "stop_signals_raise",
    "stopped_by",
]

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
#: How often ``watch`` looks while a command runs, unless it says when it needs to look
#: again (within these bounds): a pull writes fast (hundreds of MB/s from a near mirror).
_WATCH_POLL = 0.01
_WATCH_POLL_MAX = _POLL

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


class Terminated(SystemExit):
    """The agent got SIGTERM while a command ran; the command has been stopped.

    A :class:`SystemExit` (exit status 143) so that ``finally`` blocks run and the
    process ends as a terminated process would, unless a caller catches it.
    """

    def __init__(self) -> None:
        super().__init__(int(ExitCode.TERMINATED))


class CommandStopped(Exception):
    """The event given to :func:`stopped_by` was set: the command was stopped (or not
    started) because the agent is stopping the work of this thread."""


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
        self._previous: dict[int, _SignalHandler] = {}

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


def stop_signals_deferred() -> contextlib.AbstractContextManager[None]:
    """SIGTERM and SIGINT arriving inside the block are held and raised when it ends (in
    the main thread; elsewhere a no-op): for a section that must finish once started,
    such as removing a scratch store."""
    return _SIGNALS.deferred()


# --------------------------------------------------------------------------------------
# stopping commands that run in worker threads (signals only reach the main thread)

_stop_events = threading.local()


@contextlib.contextmanager
def stopped_by(event: threading.Event) -> Iterator[None]:
    """In this thread, while the block runs: once ``event`` is set, :func:`run_command`
    stops its command (as on Ctrl-C) and raises :class:`CommandStopped`, and starts none.

    For commands run in worker threads: the main thread, which gets SIGTERM and SIGINT,
    sets the event so that every command in flight stops and its cleanups run.
    """
    previous = getattr(_stop_events, "event", None)
    _stop_events.event = event
    try:
        yield
    finally:
        _stop_events.event = previous


def _stop_event() -> Optional[threading.Event]:
    return getattr(_stop_events, "event", None)


def raise_if_stopped() -> None:
    """:class:`CommandStopped` when the event of :func:`stopped_by` is set in this thread
    (for a worker waiting for something other than a command)."""
    stop = _stop_event()
    if stop is not None and stop.is_set():
        raise CommandStopped()


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
        self,
        popen: subprocess.Popen[bytes],
        on_stderr_line: Optional[Callable[[str], None]],
        *,
        own_group: bool = True,
    ) -> None:
        self.popen = popen
        self.real = popen.pid > 1  # checked by run_command; kept as a second guard
        # start_new_session: the child leads its own group; an interactive child stays in
        # ours (the terminal's foreground group), so only it and its descendants are signalled
        self.pgid: Optional[int] = popen.pid if own_group else None
        self.on_stderr_line = on_stderr_line
        self.output = {_STDOUT: bytearray(), _STDERR: bytearray()}
        self._partial = bytearray()
        self._chunks: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._open: set[str] = set()
        for tag, stream in ((_STDOUT, popen.stdout), (_STDERR, popen.stderr)):
            if stream is None:  # interactive: stderr goes to the terminal
                continue
            self._open.add(tag)
            threading.Thread(
                target=_read_stream,
                args=(stream, tag, self._chunks),
                name=f"run_command {tag} of {popen.pid}",
                daemon=True,
            ).start()
        self._exited_at: Optional[float] = None
        self._known: dict[int, psutil.Process] = {}
        self._pidfd = open_pidfd(popen.pid) if self.real else None

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
        if not self.real or self.exited():
            # an exited child has no children left (the kernel gave them to a reaper):
            # skip psutil's scan of every process on the node, after every command
            return
        with contextlib.suppress(psutil.Error):
            for process in psutil.Process(self.popen.pid).children(recursive=True):
                self._known.setdefault(process.pid, process)

    def _signal_all(self, signum: int) -> None:
        if not self.real:
            with contextlib.suppress(OSError):
                self.popen.send_signal(signum)
            return
        if self.pgid is not None:
            _signal_quietly(functools.partial(os.killpg, self.pgid, signum))
        else:
            _signal_quietly(functools.partial(self.popen.send_signal, signum))
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


def open_pidfd(pid: int) -> Optional[int]:
    """A file descriptor that becomes readable when ``pid`` exits (Linux 5.3+), or None
    (older kernels: the wait for the child then falls back to short sleeps)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


_PR_SET_PDEATHSIG = 1


def _die_with_agent() -> Optional[Callable[[], None]]:
    """What the child runs between fork and exec so that it dies with the agent: its own
    session (start_new_session) takes it out of the agent's process group, so without this
    a ``kill -9`` of the agent leaves it running, reparented to init. None where prctl is
    not available (not Linux). Used where util-linux's setpriv is missing (:func:`_start`).

    The death signal fires when the THREAD that started the child ends, not the process:
    safe with the worker threads of ``check --parallel`` (agent.commands.parallel), each
    of which waits for its command (run_command returns) before the thread ends."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the agent died before the call: do not run at all
            os._exit(int(ExitCode.ENVIRONMENT))

    return preexec


@functools.cache
def death_signal_wrapper() -> Optional[str]:
    """util-linux's ``setpriv``, found on the agent's PATH: ``setpriv --pdeathsig KILL --
    COMMAND`` sets the same death signal as :func:`_die_with_agent` without any Python
    between fork and exec. A ``preexec_fn`` makes Python fork (not vfork) and run its
    after-fork hooks in the child: about 7 ms of CPU and 6 ms of waiting per command
    (bench/check_many.py, issue 14), more than a manifest check's own skopeo. The
    difference: setpriv cannot see whether the agent died in the millisecond before its
    prctl; a command started in that window outlives a ``kill -9`` (in the DaemonSet, the
    container's PID namespace ends it with the agent). None: the preexec_fn way, also
    for a setpriv older than util-linux 2.33, which has no --pdeathsig (RHEL 8)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    try:
        usage = subprocess.run(
            [setpriv, "--help"],
            capture_output=True,
            env={"PATH": os.defpath, "LANG": "C"},  # nothing of the agent's environment
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return setpriv if b"--pdeathsig" in usage.stdout else None


#: setpriv's own words when it cannot run the command it was given (util-linux errexec:
#: exit 127 when not found, 126 otherwise), e.g. a script whose interpreter is missing.
_SETPRIV_EXEC_FAILED = re.compile(r"^setpriv: failed to execute (.+?): (.+)$", re.M)


def _wrapped(
    args: tuple[str, ...], env: Optional[Mapping[str, str]], interactive: bool
) -> Optional[list[str]]:
    """``args`` behind setpriv, which finds the executable on ``env``'s PATH as Popen
    would (and keeps its name as argv[0]: chroot names itself in its errors); None when
    setpriv is missing or the executable is not found, so that Popen says why
    (CommandNotFound), and for an interactive command, whose stderr (where setpriv would
    say that it could not run it) goes to the terminal."""
    wrapper = death_signal_wrapper()
    if wrapper is None or interactive:
        return None
    path = (os.environ if env is None else env).get("PATH", os.defpath)
    if shutil.which(args[0], path=path) is None:
        return None
    return [wrapper, "--pdeathsig", "KILL", "--", *args]


def _start(
    args: tuple[str, ...],
    env: Optional[Mapping[str, str]],
    interactive: bool,
    keep_fds: Sequence[int] = (),
) -> tuple[subprocess.Popen[bytes], bool]:
    """The command started, and whether setpriv runs it."""
    wrapped = _wrapped(args, env, interactive)
    try:
        popen = subprocess.Popen(
            list(args) if wrapped is None else wrapped,
            env=None if env is None else dict(env),
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if interactive else subprocess.PIPE,
            start_new_session=not interactive,
            close_fds=True,
            pass_fds=tuple(keep_fds),
            # only prctl and getppid run between fork and exec
            preexec_fn=_die_with_agent() if wrapped is None else None,
        )
    except (FileNotFoundError, NotADirectoryError):
        raise CommandNotFound(args[0], detail="no such executable on PATH") from None
    except PermissionError as exc:
        raise CommandNotFound(args[0], detail=exc.strerror or "permission denied") from None
    return popen, wrapped is not None


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
    interactive: bool = False,
    watch: Optional[Callable[[], Optional[float]]] = None,
    keep_fds: Sequence[int] = (),
) -> CommandResult:
    """Run ``argv`` (no shell) with a wall-clock ``timeout`` and capture its output.

    The command dies with the agent: it gets SIGKILL when the agent's process ends in any
    way, ``kill -9`` included (``PR_SET_PDEATHSIG``), so no podman is left running on the
    node by an agent that was killed. ``watch`` is called while the command runs, again
    after the number of seconds it returns (kept between 10 and 100 ms; every 10 ms when it
    returns None); an exception it raises kills the command at once (SIGKILL, no grace:
    e.g. the node's disk filling up) and propagates. ``keep_fds`` are inherited by the
    command (e.g. the lock of its scratch store: held as long as anything it started runs).

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

    ``interactive`` (a credential plugin that may ask the user something): the child
    shares the agent's stdin, stderr and process group (the terminal's foreground group,
    so it may read the terminal); only stdout is captured, ``stderr`` is empty, and a
    timeout stops the child and its descendants rather than a group.

    Raises :class:`CommandNotFound` when the executable does not exist or cannot be run.
    """
    args = tuple(os.fspath(arg) for arg in argv)
    if not args:
        raise ValueError("run_command needs a command")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    raise_if_stopped()
    death_signal_wrapper()  # found once, before any section that holds Ctrl-C back
    stop = _stop_event()
    with _SIGNALS.active():
        started = time.monotonic()
        child: Optional[_Child] = None
        timed_out = False
        urgent = False
        try:
            # Ctrl-C/SIGTERM between the fork and the bookkeeping would orphan the child.
            with _SIGNALS.deferred():
                popen, wrapped = _start(args, env, interactive, keep_fds)
                if not _is_own_child(popen.pid):
                    return _run_double(popen, args, started, timeout, on_stderr_line)
                child = _Child(popen, on_stderr_line, own_group=not interactive)
            deadline = started + timeout
            next_look = started
            while True:
                if child.exited() and (not child.streams_open or child.lingering()):
                    break
                if stop is not None and stop.is_set():
                    raise CommandStopped()
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0:
                    timed_out = True
                    break
                child.pump(min(remaining, _POLL if watch is None else max(0.0, next_look - now)))
                if watch is not None and time.monotonic() >= next_look:
                    urgent = True  # what the watch saw (a disk filling up) cannot wait
                    wait = watch()
                    urgent = False
                    wait = _WATCH_POLL if wait is None else wait
                    next_look = time.monotonic() + min(max(wait, _WATCH_POLL), _WATCH_POLL_MAX)
            if timed_out:
                child.stop(grace)
            else:
                child.kill()  # leftovers in the group; the child itself is done
            child.drain(1.0)
        except BaseException:
            if child is not None:
                with _SIGNALS.deferred():
                    if urgent:
                        child.kill()  # no grace: every moment more writes to the disk
                    else:
                        child.stop(min(grace, INTERRUPT_GRACE))
            raise
        stderr = child.text(_STDERR)
        if wrapped and not timed_out and popen.returncode in (126, 127):
            failed = _SETPRIV_EXEC_FAILED.search(stderr)
            if failed is not None:  # what Popen itself raises without setpriv
                raise CommandNotFound(args[0], detail=failed.group(2))
        return CommandResult(
            argv=args,
            exit_code=None if timed_out else popen.returncode,
            stdout=child.text(_STDOUT),
            stderr=stderr,
            timed_out=timed_out,
            duration=time.monotonic() - started,
        )
