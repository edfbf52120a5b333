"""agent/process.py: commands as argument lists, timeouts, process groups, signals.

Real-process tests use ``sh`` and Python children (no podman); the Popen double of
pytest-subprocess checks how a command is started without starting anything.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from agent import process
from agent.errors import ExitCode
from agent.process import (
    CommandNotFound,
    CommandResult,
    Terminated,
    run_command,
    stop_signals_deferred,
    stop_signals_raise,
)
from tests.unit.process_watch import gone, no_leftover_processes, wait_gone

PY = sys.executable


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    with no_leftover_processes():
        yield


# ======================================================================================
# run_command with real processes


def test_exit_code_and_output_are_a_result() -> None:
    result = run_command(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert result.argv == ("sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.timed_out and not result.ok
    assert 0 < result.duration < 10


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "no-pidfd"])
def test_a_child_that_closes_its_pipes_before_exiting_is_waited_for(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pidfd:  # kernels before 5.3, or other systems: the wait falls back to polling
        monkeypatch.setattr(process, "open_pidfd", lambda pid: None)
    script = "echo early; echo warn >&2; exec >&- 2>&-; sleep 0.3; exit 4"
    result = run_command(["sh", "-c", script], timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (4, "early\n", "warn\n")
    assert not result.timed_out and result.duration >= 0.3


def _pidfds() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{name}") == "anon_inode:[pidfd]"
    return count


def test_the_exit_watch_is_closed_after_every_command() -> None:
    before = _pidfds()
    run_command(["true"], timeout=10)
    run_command(["sleep", "5"], timeout=0.2, grace=0.1)

    def fail(line: str) -> None:
        raise RuntimeError(line)

    with pytest.raises(RuntimeError):
        run_command(["sh", "-c", "echo go >&2; sleep 5"], timeout=10, on_stderr_line=fail)
    assert _pidfds() == before


def test_environment_is_exactly_the_one_given() -> None:
    env = {"PATH": "/usr/bin:/bin", "ONLY": "this"}
    result = run_command(["env"], timeout=10, env=env)
    assert dict(line.split("=", 1) for line in result.stdout.splitlines()) == env


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["mirror-agent-no-such-tool", "--help"], None, "mirror-agent-no-such-tool"),
        (["/nonexistent/skopeo"], None, "skopeo"),
        (["sh", "-c", "true"], {"PATH": "/nonexistent"}, "sh"),  # looked up on env's PATH
    ],
)
def test_an_executable_that_cannot_be_found_is_command_not_found(
    argv: list[str], env: Optional[dict[str, str]], named: str
) -> None:
    with pytest.raises(CommandNotFound) as caught:
        run_command(argv, timeout=10, env=env)
    error = caught.value
    assert error.message.startswith(f"cannot run {argv[0]!r}") and named in error.message
    assert error.exit_code == ExitCode.ENVIRONMENT and int(error.exit_code) == 69
    assert error.hint and "install" in error.hint and named in error.hint


def test_file_that_is_not_executable_is_command_not_found(tmp_path: Path) -> None:
    script = tmp_path / "podman"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(CommandNotFound, match="podman") as caught:
        run_command([str(script)], timeout=10)
    assert "podman" in (caught.value.hint or "")


def test_child_runs_in_its_own_session_without_stdin() -> None:
    code = "import os, sys; print(os.getsid(0), os.getpgid(0), os.getpid(), repr(sys.stdin.read()))"
    result = run_command([PY, "-c", code], timeout=10)
    sid, pgid, pid, stdin = result.stdout.split()
    assert sid == pgid == pid
    assert int(sid) != os.getsid(0)
    assert stdin == "''"


def test_interactive_child_shares_stdin_stderr_and_process_group(tmp_path: Path) -> None:
    """A credential plugin that may prompt: it reads the agent's stdin, writes to its
    stderr and stays in its process group (the terminal's foreground group)."""
    answer = tmp_path / "answer"
    answer.write_text("typed by the user\n")
    code = (
        "import os, sys; sys.stderr.write('prompt\\n'); "
        "print(os.getpgid(0), os.getsid(0), sys.stdin.readline().strip())"
    )
    saved = os.dup(0)
    try:
        with open(answer) as stdin:
            os.dup2(stdin.fileno(), 0)
        result = run_command([PY, "-c", code], timeout=10, interactive=True)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    pgid, sid, line = result.stdout.strip().split(" ", 2)
    assert (int(pgid), int(sid)) == (os.getpgid(0), os.getsid(0))
    assert line == "typed by the user"
    assert result.stderr == ""  # it went to the agent's stderr


def test_interactive_child_is_stopped_on_timeout_without_touching_our_group() -> None:
    script = "sleep 300 & echo $! ; exec sleep 300"
    result = run_command(["sh", "-c", script], timeout=1.0, grace=5.0, interactive=True)
    assert result.timed_out and result.exit_code is None
    assert wait_gone([int(result.stdout.split()[0])]) == []  # the descendant too
    # (this test process is in the same group: still here)


def test_stderr_lines_arrive_in_order_while_the_command_runs(tmp_path: Path) -> None:
    marker = tmp_path / "seen-first"
    code = textwrap.dedent(
        f"""
        import os, sys, time
        print("first", file=sys.stderr, flush=True)
        deadline = time.time() + 20
        while not os.path.exists({str(marker)!r}) and time.time() < deadline:
            time.sleep(0.01)
        print("second", file=sys.stderr, flush=True)
        sys.stderr.write("no newline at the end")
        sys.exit(0 if os.path.exists({str(marker)!r}) else 1)
        """
    )
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "first":
            marker.touch()  # the child only goes on once the first line reached us

    result = run_command([PY, "-c", code], timeout=30, on_stderr_line=on_line)
    assert result.exit_code == 0
    assert lines == ["first", "second", "no newline at the end"]


def test_many_stderr_lines_keep_their_order() -> None:
    code = "import sys\nfor i in range(20000): sys.stderr.write(f'line {i}\\r\\n')"
    lines: list[str] = []
    result = run_command([PY, "-c", code], timeout=60, on_stderr_line=lines.append)
    assert lines == [f"line {i}" for i in range(20000)]
    assert result.stderr.count("\n") == 20000


def test_large_outputs_on_both_streams_do_not_deadlock() -> None:
    code = textwrap.dedent(
        """
        import sys
        chunk = "x" * 65536
        for i in range(400):
            sys.stdout.write(chunk)
            sys.stderr.write(str(i) + "\\n" + "y" * 20000 + "\\n")
        """
    )
    result = run_command([PY, "-c", code], timeout=60, on_stderr_line=lambda _line: None)
    assert result.exit_code == 0 and not result.timed_out
    assert len(result.stdout) == 400 * 65536
    assert len(result.stderr) == sum(len(str(i)) + 20002 for i in range(400))


def test_invalid_utf8_is_replaced() -> None:
    result = run_command([PY, "-c", "import os; os.write(2, b'caf\\xe9\\n')"], timeout=10)
    assert result.stderr == "caf\ufffd\n"


def test_timeout_kills_the_whole_group_and_escaped_descendants() -> None:
    script = (
        "sleep 300 & echo $! >&2; "
        "sh -c 'sleep 300 & echo $! >&2; wait' & "
        "setsid sleep 300 & echo $! >&2; "  # leaves the process group
        "echo ready >&2; wait"
    )
    lines: list[str] = []
    started = time.monotonic()
    result = run_command(["sh", "-c", script], timeout=1.0, grace=30.0, on_stderr_line=lines.append)
    assert result.timed_out and result.exit_code is None
    assert "ready" in lines and "ready\n" in result.stderr
    pids = [int(line) for line in lines if line.isdigit()]
    assert len(pids) == 3
    assert wait_gone(pids, timeout=2.0) == []
    # sleep dies at SIGTERM: the 30 s grace period is not waited out (a wide margin)
    assert time.monotonic() - started < 10.0


def test_timeout_sends_sigterm_first_and_keeps_reading() -> None:
    code = textwrap.dedent(
        """
        import signal, sys, time
        def stop(signum, frame):
            print('level=info msg="Received shutdown signal \\\\"terminated\\\\", terminating!"',
                  file=sys.stderr, flush=True)
            sys.exit(2)
        signal.signal(signal.SIGTERM, stop)
        print("pulling", file=sys.stderr, flush=True)
        print("partial stdout", flush=True)
        time.sleep(300)
        """
    )
    result = run_command([PY, "-c", code], timeout=1.0, grace=5.0)
    assert result.timed_out and result.exit_code is None
    assert result.stdout == "partial stdout\n"
    assert result.stderr.startswith("pulling\n")
    assert "Received shutdown signal" in result.stderr
    assert result.duration < 1.0 + 5.0


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('stubborn', file=sys.stderr, flush=True)\n"
        "time.sleep(300)\n"
    )
    lines: list[str] = []
    result = run_command([PY, "-c", code], timeout=0.5, grace=1.0, on_stderr_line=lines.append)
    assert result.timed_out and result.exit_code is None
    assert lines == ["stubborn"]
    assert 1.5 <= result.duration < 10


def test_leftovers_holding_the_pipes_are_killed_after_the_command_exits() -> None:
    lines: list[str] = []
    result = run_command(
        ["sh", "-c", "(sleep 300; echo late) & echo $! >&2; echo done"],
        timeout=60,
        on_stderr_line=lines.append,
    )
    assert result.exit_code == 0 and not result.timed_out
    assert result.stdout == "done\n"
    assert result.duration < 10
    assert wait_gone([int(lines[0])]) == []


def test_leftovers_in_the_group_are_killed_even_without_pipes() -> None:
    lines: list[str] = []
    result = run_command(
        ["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $! >&2"],
        timeout=60,
        on_stderr_line=lines.append,
    )
    assert result.exit_code == 0 and result.duration < 5
    assert wait_gone([int(lines[0])]) == []


def _interrupt_when(predicate: Callable[[str], bool]) -> Callable[[str], None]:
    """An on_stderr_line that makes the main thread see Ctrl-C once ``predicate`` holds."""

    def on_line(line: str) -> None:
        if predicate(line):
            threading.Timer(0.2, _thread.interrupt_main).start()

    return on_line


def test_keyboard_interrupt_while_waiting_kills_the_command_first() -> None:
    pids: list[int] = []

    def note(line: str) -> bool:
        pids.append(int(line))
        return len(pids) == 2

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_command(
            ["sh", "-c", "echo $$ >&2; sleep 300 & echo $! >&2; wait"],
            timeout=60,
            on_stderr_line=_interrupt_when(note),
        )
    # killed before the exception reached us, not after
    assert [pid for pid in pids if not gone(pid)] == []
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_error_in_the_line_callback_stops_the_command() -> None:
    pids: list[int] = []

    def on_line(line: str) -> None:
        pids.append(int(line))
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        run_command(["sh", "-c", "echo $$ >&2; exec sleep 300"], timeout=60, on_stderr_line=on_line)
    assert pids and gone(pids[0])


# ======================================================================================
# signals


def test_terminated_is_a_system_exit_with_status_143() -> None:
    assert isinstance(Terminated(), SystemExit)
    assert Terminated().code == 143


def test_stop_signals_raise_turns_stops_into_exceptions_until_it_ends() -> None:
    with stop_signals_raise():
        # never raise SIGTERM at pytest itself with the default (killing) disposition
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with pytest.raises(Terminated):
            signal.raise_signal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    ("signum", "raised"),
    [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_stop_in_a_deferred_section_is_raised_when_the_section_ends(
    signum: int, raised: type[BaseException]
) -> None:
    finished: list[str] = []
    with stop_signals_raise():
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with pytest.raises(raised):
            with stop_signals_deferred():
                signal.raise_signal(signum)
                finished.append("section")
            finished.append("after the section")
    assert finished == ["section"]


def test_handlers_set_by_the_application_are_left_alone() -> None:
    def mine(signum: int, frame: Any) -> None:
        raise AssertionError("not expected")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        seen: list[Any] = []
        run_command(
            [PY, "-c", "import sys; print('x', file=sys.stderr)"],
            timeout=10,
            on_stderr_line=lambda _l: seen.append(signal.getsignal(signal.SIGTERM)),
        )
        assert seen == [mine]
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_run_command_works_outside_the_main_thread() -> None:
    results: list[CommandResult] = []
    thread = threading.Thread(
        target=lambda: results.append(run_command(["sh", "-c", "echo hi"], timeout=10))
    )
    thread.start()
    thread.join(30)
    assert results and results[0].stdout == "hi\n"


@pytest.mark.parametrize(("argv", "timeout"), [([], 1.0), (["true"], 0.0), (["true"], -1.0)])
def test_bad_arguments(argv: list[str], timeout: float) -> None:
    with pytest.raises(ValueError):
        run_command(argv, timeout=timeout)


# ======================================================================================
# run_command with pytest-subprocess (no process at all)


def test_run_command_through_a_popen_double(fp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "death_signal_wrapper", lambda: None)  # argv as given
    seen: dict[str, Any] = {}
    fp.register(
        ["podman", "pull", fp.any()],
        stdout=b"sha256:abc\n",
        stderr=["Trying to access", "done"],
        returncode=0,
        callback=lambda process: seen.update(process.kwargs or {}),
    )
    lines: list[str] = []
    result = run_command(
        ["podman", "pull", "x"], timeout=5, env={"PATH": "/bin"}, on_stderr_line=lines.append
    )
    assert result.exit_code == 0 and result.stdout == "sha256:abc\n"
    assert lines == ["Trying to access", "done"]
    assert seen["env"] == {"PATH": "/bin"}
    assert seen["start_new_session"] is True
    assert seen["stdin"] == subprocess.DEVNULL
    assert "shell" not in seen or seen["shell"] is False
    assert fp.call_count(["podman", "pull", "x"]) == 1


# ======================================================================================
# CommandNotFound


def test_command_not_found_names_the_executable_and_what_to_install() -> None:
    error = CommandNotFound("podman", where="on the node (chroot /host)", detail="No such file")
    assert error.message == "cannot run 'podman' on the node (chroot /host): No such file"
    assert error.hint and "podman" in error.hint
    assert CommandNotFound("/usr/sbin/chroot").hint == CommandNotFound("chroot").hint


# ======================================================================================
# the death signal: behind util-linux's setpriv where it knows --pdeathsig


@pytest.mark.parametrize(
    ("usage", "used"),
    [
        (" --pdeathsig keep|clear|<signal>  set or clear parent death signal", True),
        (" --reuid <uid>  set real uid", False),  # util-linux 2.32 (RHEL 8): no --pdeathsig
    ],
)
def test_setpriv_is_used_only_where_it_knows_pdeathsig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usage: str, used: bool
) -> None:
    setpriv = tmp_path / "setpriv"
    setpriv.write_text(f"#!/bin/sh\necho 'Usage: setpriv [options] <program>'\necho '{usage}'\n")
    setpriv.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    found = process.death_signal_wrapper.__wrapped__()  # type: ignore[attr-defined]
    assert found == (str(setpriv) if used else None)


def test_the_result_names_the_command_not_its_wrapper() -> None:
    result = run_command(["sh", "-c", "cat /proc/$$/cmdline | tr '\\0' ' '"], timeout=10)
    assert result.argv == ("sh", "-c", "cat /proc/$$/cmdline | tr '\\0' ' '")
    assert result.stdout.startswith("sh -c ")  # setpriv exec'd the command itself, as argv[0]


@pytest.mark.parametrize("way", ["setpriv", "preexec_fn"])
def test_a_script_whose_interpreter_is_missing_is_command_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    """The kernel cannot run it: Popen raises, or setpriv says so (exit 127); the same
    CommandNotFound either way, never a result that looks like the tool's own failure."""
    if way == "preexec_fn":
        monkeypatch.setattr(process, "death_signal_wrapper", lambda: None)
    else:
        assert process.death_signal_wrapper() is not None, "setpriv (util-linux) is missing"
    script = tmp_path / "tool"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    with pytest.raises(CommandNotFound) as caught:
        run_command([str(script)], timeout=10)
    assert str(script) in caught.value.message
