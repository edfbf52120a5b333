"""The lab's processes: started in their own session, tracked by identity, stopped with
their whole tree (terminate, wait, kill), and sent SIGTERM when the Python process that
started them dies (Linux parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import psutil

STOP_TIMEOUT = 10.0


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says why and what was seen."""


def _set_parent_death_signal() -> None:
    """In the child before exec: get SIGTERM when the parent dies (Linux; best effort)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


@dataclass(frozen=True)
class StartedProcess:
    """Identity of a process the lab started: a PID alone can be reused later."""

    pid: int
    create_time: float
    argv: tuple[str, ...]

    def alive(self) -> bool:
        """Whether this very process (not a later one with the same PID) is still alive."""
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.create_time) > 0.01:
                return False
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def stop_process_tree(popen: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """Terminate ``popen`` and all its descendants, wait, then kill what is left."""
    if popen.poll() is not None:
        return
    # Until it is reaped, the PID cannot be reused: it still names our child here.
    try:
        parent: Optional[psutil.Process] = psutil.Process(popen.pid)
        children = parent.children(recursive=True) if parent else []
    except psutil.NoSuchProcess:
        parent, children = None, []
    for process in ([parent] if parent else []) + children:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout)
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=timeout)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (or why it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


class ProcessTracker:
    """Starts processes under ``workdir`` and remembers them until they are stopped.

    ``check_open`` is called before every start (it raises LabError when the lab is not
    open or already closed); :attr:`lock` is held while starting and while stopping all.
    """

    def __init__(self, workdir: Path, check_open: Callable[[], None]) -> None:
        self.workdir = workdir
        self.lock = threading.RLock()
        self._check_open = check_open
        self._running: dict[int, subprocess.Popen[Any]] = {}
        self._started: list[StartedProcess] = []

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdout: Any,
        stderr: Any,
        cwd: Optional[Path] = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own session with exactly ``env``; stdin is /dev/null."""
        with self.lock:
            self._check_open()
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=str(cwd or self.workdir),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_set_parent_death_signal,
            )
            try:
                create_time = psutil.Process(popen.pid).create_time()
            except psutil.NoSuchProcess:
                create_time = 0.0
            self._started.append(StartedProcess(popen.pid, create_time, tuple(argv)))
            self._running[popen.pid] = popen
            return popen

    def forget(self, popen: subprocess.Popen[Any]) -> None:
        """Stop tracking ``popen`` (it was stopped, or has exited)."""
        with self.lock:
            self._running.pop(popen.pid, None)

    def run(
        self,
        argv: Sequence[str],
        *,
        launch: Sequence[str],
        env: Mapping[str, str],
        timeout: float,
        check: bool,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``launch`` (``argv``, possibly wrapped) to completion, capturing text.

        LabError on timeout (the process tree is killed) and, with ``check``, on a
        non-zero exit; the message carries ``argv`` and the output.
        """
        popen = self.spawn(launch, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_tree(popen)
            out, err = popen.communicate()
            raise LabError(
                f"timed out after {timeout}s: {' '.join(argv)}\n"
                f"stdout:\n{out.decode(errors='replace')}\nstderr:\n{err.decode(errors='replace')}"
            ) from None
        finally:
            if popen.poll() is None:
                stop_process_tree(popen)
            self.forget(popen)
        result = subprocess.CompletedProcess(
            list(argv), popen.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        )
        if check and result.returncode != 0:
            raise LabError(
                f"exit {result.returncode}: {' '.join(argv)}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def stop_all(self) -> None:
        """Stop every process still tracked."""
        with self.lock:
            for popen in list(self._running.values()):
                stop_process_tree(popen)
            self._running.clear()

    @property
    def started_pids(self) -> list[int]:
        """PIDs of every process started so far, stopped ones included."""
        return [started.pid for started in self._started]

    def alive_pids(self) -> list[int]:
        """PIDs of started processes that are still alive (PID reuse aware)."""
        return [started.pid for started in self._started if started.alive()]
