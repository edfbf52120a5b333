"""agent/pull/runner.py: commands as argument lists, timeouts, process groups, the node.

Real-process tests use ``sh`` and Python children (no podman); NodeRunner is checked with
a recording fake ``run`` and, end to end through run_command, with pytest-subprocess.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

import psutil
import pytest

from agent.errors import ExitCode, UsageError
from agent.pull import runner as runner_module
from agent.pull.runner import (
    NODE_PATH,
    CheckEnvironmentError,
    CommandNotFound,
    CommandResult,
    NodeRunner,
    NodeSettings,
    Terminated,
    mounts_below,
    parse_proxy_env,
    run_command,
    stop_signals_raise,
)
from tests.hostroot import tree_listing

PY = sys.executable
REF = "quay.io/team/app@sha256:" + "a" * 64
AUTH = "/var/lib/kubelet/config.json"
SCRATCH_ARG = re.compile(r"^/var/tmp/mirror-agent-[A-Za-z0-9_]+/(root|run)$")


def scratch_of(argv: list[str]) -> str:
    """The node path of the scratch store in a podman command line."""
    return argv[argv.index("--root") + 1].rsplit("/", 1)[0]


def gone(pid: int) -> bool:
    """Not running any more (a zombie only waits for its reaper: it is dead)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if not gone(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [pid for pid in alive if not gone(pid)]
    return alive


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
        monkeypatch.setattr(runner_module, "_open_pidfd", lambda pid: None)
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


def test_executable_is_looked_up_on_the_given_path() -> None:
    with pytest.raises(CommandNotFound):
        run_command(["sh", "-c", "true"], timeout=10, env={"PATH": "/nonexistent"})


def test_missing_executable_is_command_not_found() -> None:
    with pytest.raises(CommandNotFound) as caught:
        run_command(["mirror-agent-no-such-tool", "--help"], timeout=10)
    error = caught.value
    assert "mirror-agent-no-such-tool" in error.message
    assert error.exit_code == ExitCode.ENVIRONMENT and int(error.exit_code) == 69
    assert error.hint and "install" in error.hint
    with pytest.raises(CommandNotFound, match="skopeo") as caught:
        run_command(["/nonexistent/skopeo"], timeout=10)
    assert caught.value.hint and "skopeo" in caught.value.hint


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


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path (podman 4.3 limits --runroot to 50 characters)."""
    path = Path(tempfile.mkdtemp(prefix="ma-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_sigterm_to_the_agent_stops_the_command_and_exits_143(short_tmp: Path) -> None:
    """The agent process gets SIGTERM while podman runs: no orphan, exit status 143."""
    scratch = short_tmp / "s"
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from agent.pull.runner import NodeRunner, NodeSettings, run_command

        def fake_run(argv, **kwargs):
            # a real long command in the middle of a scratch pull
            return run_command(["sh", "-c", "echo $$ >&2; sleep 300 & echo $! >&2; wait"],
                               timeout=120, on_stderr_line=lambda l: print(l, flush=True))

        Path({str(scratch)!r}).mkdir()
        settings = NodeSettings(host_root=Path("/"), auth_file=None, proxy_env={{}})
        runner = NodeRunner(settings, scratch_parent={str(scratch)!r}, run=fake_run,
                            min_free_bytes=0)  # whatever this machine has free
        runner.pull("quay.io/x/y:1")
        """
    )
    agent = subprocess.Popen(
        [PY, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        assert agent.stdout is not None and agent.stderr is not None
        first = agent.stdout.readline()
        if not first:
            raise AssertionError(agent.stderr.read())
        pids = [int(first), int(agent.stdout.readline())]
        scratch_dirs = list(scratch.iterdir())
        assert len(scratch_dirs) == 1 and scratch_dirs[0].name.startswith("mirror-agent-")
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode == 143, err
    assert wait_gone(pids, timeout=2.0) == []
    assert list(scratch.iterdir()) == []


def test_terminated_is_a_system_exit_with_status_143() -> None:
    assert isinstance(Terminated(), SystemExit)
    assert Terminated().code == 143


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


def test_run_command_through_a_popen_double(fp: Any) -> None:
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
# NodeRunner with a recording fake


class FakeRun:
    """Stands in for run_command: records calls, answers with scripted results."""

    def __init__(self, host_root: Optional[Path] = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.host_root = host_root
        self.exit_code: Optional[int] = 0
        self.stdout = ""
        self.stderr = ""
        self.timed_out = False
        self.raise_: Optional[BaseException] = None
        self.during: Optional[Callable[[list[str]], None]] = None

    def __call__(
        self,
        argv: list[str],
        *,
        timeout: float,
        env: Optional[dict[str, str]] = None,
        on_stderr_line: Optional[Callable[[str], None]] = None,
    ) -> CommandResult:
        self.calls.append(
            {"argv": list(argv), "timeout": timeout, "env": env, "on_stderr_line": on_stderr_line}
        )
        if self.during is not None:
            self.during(list(argv))
        if self.raise_ is not None:
            raise self.raise_
        return CommandResult(
            tuple(argv),
            None if self.timed_out else self.exit_code,
            self.stdout,
            self.stderr,
            self.timed_out,
            0.1,
        )

    @property
    def argv(self) -> list[str]:
        assert len(self.calls) == 1, self.calls
        return list(self.calls[0]["argv"])

    def scratch_on_agent_side(self, argv: list[str]) -> Path:
        """The agent-side folder of the scratch store named in a podman command line."""
        node_root = argv[argv.index("--root") + 1]
        assert self.host_root is not None
        return self.host_root / node_root.lstrip("/").rsplit("/", 1)[0]


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A minimal node filesystem (only what NodeRunner itself reads and writes)."""
    root = tmp_path / "host"
    (root / "var" / "tmp").mkdir(parents=True)
    (root / "var" / "lib" / "kubelet").mkdir(parents=True)
    (root / "etc" / "mco").mkdir(parents=True)
    return root


@pytest.fixture
def big_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plenty of free space whatever the machine has."""
    usage = SimpleNamespace(total=10**13, used=0, free=10**13, percent=0.0)
    monkeypatch.setattr(psutil, "disk_usage", lambda _path: usage)


def settings_for(
    root: Path, *, auth: bool = False, proxy: Optional[dict[str, str]] = None
) -> NodeSettings:
    return NodeSettings(host_root=root, auth_file=AUTH if auth else None, proxy_env=proxy or {})


def scratch_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "var" / "tmp").iterdir())


def test_node_argv_chroots_only_for_another_root(host_root: Path) -> None:
    assert NodeRunner(settings_for(Path("/"))).node_argv(["podman", "x"]) == ["podman", "x"]
    assert NodeRunner(settings_for(host_root)).node_argv(["podman", "x"]) == [
        "chroot",
        str(host_root),
        "podman",
        "x",
    ]


@pytest.mark.usefixtures("big_disk")
def test_scratch_pull_in_chroot_with_auth_file(host_root: Path) -> None:
    fake = FakeRun(host_root)
    existed: list[bool] = []
    fake.during = lambda argv: existed.append((fake.scratch_on_agent_side(argv) / "tmp").is_dir())
    lines: list[str] = []
    runner = NodeRunner(settings_for(host_root, auth=True), run=fake, timeout=123)
    result = runner.pull(REF, on_stderr_line=lines.append)

    argv = fake.argv
    assert argv[:3] == ["chroot", str(host_root), "podman"]
    assert argv[3] == "--root" and argv[5] == "--runroot"
    assert SCRATCH_ARG.match(argv[4]) and SCRATCH_ARG.match(argv[6])
    assert argv[4].rsplit("/", 1)[0] == argv[6].rsplit("/", 1)[0]
    scratch = scratch_of(argv)
    private = ["--tmpdir", f"{scratch}/libpod", "--events-backend", "none"]
    private += ["--network-config-dir", f"{scratch}/networks"]
    assert argv[7:13] == private
    assert argv[13:] == ["pull", "--log-level=debug", "--authfile", AUTH, "--", REF]
    assert "--tls-verify=false" not in argv
    assert fake.calls[0]["timeout"] == 123
    assert fake.calls[0]["env"]["TMPDIR"] == f"{scratch_of(argv)}/tmp"
    assert fake.calls[0]["on_stderr_line"] == lines.append
    assert existed == [True]
    assert scratch_dirs(host_root) == []  # removed afterwards
    assert result.ok


@pytest.mark.usefixtures("big_disk")
def test_scratch_pull_without_chroot_or_auth(short_tmp: Path) -> None:
    fake = FakeRun(Path("/"))
    runner = NodeRunner(settings_for(Path("/")), run=fake, scratch_parent=str(short_tmp))
    runner.pull(REF)
    argv = fake.argv
    scratch = argv[2].rsplit("/", 1)[0]
    assert argv == [
        "podman",
        "--root",
        f"{scratch}/root",
        "--runroot",
        f"{scratch}/run",
        "--tmpdir",
        f"{scratch}/libpod",
        "--events-backend",
        "none",
        "--network-config-dir",
        f"{scratch}/networks",
        "pull",
        "--log-level=debug",
        "--",
        REF,
    ]
    assert Path(scratch).parent == short_tmp and Path(scratch).name.startswith("mirror-agent-")
    assert list(short_tmp.iterdir()) == []


@pytest.mark.usefixtures("big_disk")
def test_scratch_pull_with_a_storage_driver(host_root: Path) -> None:
    fake = FakeRun(host_root)
    NodeRunner(settings_for(host_root), run=fake, storage_driver="vfs").pull(REF)
    argv = fake.argv
    assert argv[7:9] == ["--storage-driver", "vfs"]
    assert argv[-4:] == ["pull", "--log-level=debug", "--", REF]


@pytest.mark.parametrize("auth", [False, True])
def test_node_storage_pull_uses_the_node_store_and_leaves_nothing(
    host_root: Path, auth: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--storage node pulls into the node's own store (no --root), checks the free space of
    that store too, and keeps c/image's temporary files in a folder removed afterwards."""
    (host_root / "var/lib/containers/storage").mkdir(parents=True)
    asked: list[str] = []
    usage = SimpleNamespace(total=10**13, used=0, free=10**13, percent=0.0)

    def disk_usage(path: str) -> SimpleNamespace:
        asked.append(path)
        return usage

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    fake = FakeRun(host_root)
    NodeRunner(settings_for(host_root, auth=auth), storage="node", run=fake).pull(REF)
    expected = ["chroot", str(host_root), "podman", "pull", "--log-level=debug"]
    expected += ["--authfile", AUTH] if auth else []
    assert fake.argv == [*expected, "--", REF]
    assert re.fullmatch(r"/var/tmp/mirror-agent-[^/]+/tmp", fake.calls[0]["env"]["TMPDIR"])
    assert asked == [str(host_root / "var/tmp"), str(host_root / "var/lib/containers/storage")]
    assert scratch_dirs(host_root) == []


def test_not_enough_space_in_the_node_store_refuses_a_node_pull(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = host_root / "var/lib/containers/storage"
    store.mkdir(parents=True)
    full = SimpleNamespace(total=10 * 1024**3, used=10 * 1024**3 - 100, free=100, percent=99.9)
    roomy = SimpleNamespace(total=10**13, used=0, free=10**13, percent=0.0)
    monkeypatch.setattr(psutil, "disk_usage", lambda path: full if path == str(store) else roomy)
    fake = FakeRun(host_root)
    with pytest.raises(CheckEnvironmentError, match="/var/lib/containers/storage"):
        NodeRunner(settings_for(host_root), storage="node", run=fake).pull(REF)
    assert fake.calls == [] and scratch_dirs(host_root) == []


def test_storage_options_are_checked(host_root: Path) -> None:
    settings = settings_for(host_root)
    with pytest.raises(UsageError):
        NodeRunner(settings, storage="mine")
    with pytest.raises(UsageError, match="scratch"):
        NodeRunner(settings, storage="node", storage_driver="overlay")
    with pytest.raises(UsageError):
        NodeRunner(settings, storage_driver="overlay --root /")
    with pytest.raises(UsageError):
        NodeRunner(settings, timeout=0)
    with pytest.raises(UsageError):
        NodeRunner(settings, scratch_parent="var/tmp")


@pytest.mark.parametrize("reference", ["--root=/", "-x", "", "quay.io/a b:1", "quay.io/a\n:1"])
@pytest.mark.usefixtures("big_disk")
def test_a_reference_that_could_be_an_option_is_refused(host_root: Path, reference: str) -> None:
    fake = FakeRun(host_root)
    for storage in ("scratch", "node"):
        runner = NodeRunner(settings_for(host_root), storage=storage, run=fake)
        with pytest.raises(UsageError):
            runner.pull(reference)
        with pytest.raises(UsageError):
            runner.inspect_manifest(reference)
    assert fake.calls == []
    assert scratch_dirs(host_root) == []


@pytest.mark.usefixtures("big_disk")
def test_environment_has_proxy_and_nothing_from_the_agent(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "CONTAINERS_REGISTRIES_CONF": "/agent/registries.conf",
        "CONTAINERS_STORAGE_CONF": "/agent/storage.conf",
        "REGISTRY_AUTH_FILE": "/agent/auth.json",
        "KUBECONFIG": "/agent/kubeconfig",
        "HTTPS_PROXY": "http://agent-proxy:3128",
        "TMPDIR": "/agent/tmp",
    }.items():
        monkeypatch.setenv(name, value)
    proxy = {"HTTPS_PROXY": "http://proxy.example.com:3128", "no_proxy": ".cluster.local"}
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root, proxy=proxy), run=fake)
    runner.pull(REF)
    runner.inspect_manifest(REF)
    runner.crio_journal()
    expected = {"PATH": NODE_PATH, "LANG": "C", "HOME": "/root", **proxy}
    pull_env = fake.calls[0]["env"]
    scratch = scratch_of(fake.calls[0]["argv"])
    assert pull_env == {**expected, "TMPDIR": f"{scratch}/tmp"}
    for call in fake.calls[1:]:
        assert call["env"] == expected


@pytest.mark.usefixtures("big_disk")
def test_pull_end_to_end_through_run_command_with_a_popen_double(
    host_root: Path, fp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", "/agent/registries.conf")
    monkeypatch.setenv("KUBECONFIG", "/agent/kubeconfig")
    seen: dict[str, Any] = {}
    fp.register(
        [
            "chroot",
            str(host_root),
            "podman",
            "--root",
            fp.any(min=1, max=1),
            "--runroot",
            fp.any(min=1, max=1),
            "--tmpdir",
            fp.any(min=1, max=1),
            "--events-backend",
            "none",
            "--network-config-dir",
            fp.any(min=1, max=1),
            "pull",
            "--log-level=debug",
            "--authfile",
            AUTH,
            "--",
            REF,
        ],
        stdout="0123abcd\n",
        stderr='time="t" level=debug msg="Trying to access \\"quay.io/team/app\\""\n',
        callback=lambda process: seen.update(process.kwargs or {}),
    )
    settings = settings_for(host_root, auth=True, proxy={"HTTP_PROXY": "http://p:1"})
    lines: list[str] = []
    result = NodeRunner(settings).pull(REF, on_stderr_line=lines.append)
    assert result.exit_code == 0 and result.stdout == "0123abcd\n"
    assert len(lines) == 1 and "Trying to access" in lines[0]
    assert seen["env"] == {
        "PATH": NODE_PATH,
        "LANG": "C",
        "HOME": "/root",
        "HTTP_PROXY": "http://p:1",
        "TMPDIR": f"{scratch_of(list(fp.calls[0]))}/tmp",
    }
    assert seen["start_new_session"] is True
    assert scratch_dirs(host_root) == []


def test_inspect_manifest_argv(host_root: Path) -> None:
    fake = FakeRun(host_root)
    NodeRunner(settings_for(host_root, auth=True), run=fake).inspect_manifest(REF)
    assert fake.argv == [
        "chroot",
        str(host_root),
        "skopeo",
        "--debug",
        "inspect",
        "--raw",
        "--authfile",
        AUTH,
        f"docker://{REF}",
    ]
    assert "CONTAINERS_REGISTRIES_CONF" not in fake.calls[0]["env"]
    assert scratch_dirs(host_root) == []  # skopeo needs no store


def test_inspect_manifest_with_another_registries_conf(host_root: Path) -> None:
    fake = FakeRun(Path("/"))
    runner = NodeRunner(settings_for(Path("/")), run=fake)
    runner.inspect_manifest(REF, registries_conf="/var/tmp/probe.conf")
    assert fake.argv == [
        "skopeo",
        "--debug",
        "--registries-conf",
        "/var/tmp/probe.conf",
        "inspect",
        "--raw",
        f"docker://{REF}",
    ]
    assert fake.calls[0]["env"]["CONTAINERS_REGISTRIES_CONF"] == "/var/tmp/probe.conf"
    with pytest.raises(UsageError):
        runner.inspect_manifest(REF, registries_conf="probe.conf")


@pytest.mark.parametrize("graphroot", [None, "/var/lib/other-store"])
def test_node_store_images_are_read_from_the_store_files_without_running_anything(
    host_root: Path, graphroot: Optional[str]
) -> None:
    """--auto lists the node's images without podman: `podman images` would set up podman's
    runtime (its database, a network backend) inside CRI-O's store."""
    if graphroot:
        (host_root / "etc/containers").mkdir(parents=True, exist_ok=True)
        (host_root / "etc/containers/storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{graphroot}"\n'
        )
    store = host_root / (graphroot or "/var/lib/containers/storage").lstrip("/")
    (store / "overlay-images").mkdir(parents=True)
    (store / "vfs-images").mkdir()
    (store / "overlay-images/images.json").write_text(json.dumps([{"id": "a", "names": ["x"]}]))
    (store / "vfs-images/images.json").write_text(json.dumps([{"id": "b"}, "junk"]))
    fake = FakeRun(host_root)
    before = tree_listing(host_root)
    records = NodeRunner(settings_for(host_root), run=fake).node_store_images()
    assert [record["id"] for record in records] == ["a", "b"]
    assert fake.calls == []
    assert tree_listing(host_root) == before  # nothing written in the node's store


def test_an_unreadable_node_store_listing_is_an_environment_error(host_root: Path) -> None:
    listing = host_root / "var/lib/containers/storage/overlay-images/images.json"
    listing.parent.mkdir(parents=True)
    listing.write_text("[{")
    with pytest.raises(CheckEnvironmentError, match=r"images\.json"):
        NodeRunner(settings_for(host_root), run=FakeRun(host_root)).node_store_images()


def test_a_node_without_a_store_has_no_images(host_root: Path) -> None:
    assert NodeRunner(settings_for(host_root), run=FakeRun(host_root)).node_store_images() == []


def test_crio_journal_argv(host_root: Path) -> None:
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root), run=fake)
    runner.crio_journal()
    runner.crio_journal(since="2024-05-01 10:00:00")
    assert [call["argv"][2:] for call in fake.calls] == [
        ["journalctl", "-u", "crio", "--since", "-24h", "--no-pager", "-o", "short-iso"],
        [
            "journalctl",
            "-u",
            "crio",
            "--since",
            "2024-05-01 10:00:00",
            "--no-pager",
            "-o",
            "short-iso",
        ],
    ]
    with pytest.raises(UsageError):
        runner.crio_journal(since="")


def test_podman_version(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.stdout = "podman version 4.3.1\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    assert runner.podman_version() == "4.3.1"
    assert fake.calls[0]["argv"] == ["chroot", str(host_root), "podman", "--version"]
    fake.stdout = "podman version 5.4.0-dev\n"
    assert runner.podman_version() == "5.4.0-dev"
    fake.exit_code = 125
    assert runner.podman_version() is None
    fake.exit_code, fake.stdout = 0, "something else\n"
    assert runner.podman_version() is None
    fake.timed_out = True
    assert runner.podman_version() is None
    fake.timed_out, fake.raise_ = False, CommandNotFound("chroot")
    assert runner.podman_version() is None


def test_podman_version_soon_answers_what_podman_version_would(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.stdout = "podman version 4.3.1\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    answer = runner.podman_version_soon()
    assert answer() == "4.3.1"
    assert fake.calls[0]["argv"] == ["chroot", str(host_root), "podman", "--version"]
    fake.exit_code = 125
    assert runner.podman_version_soon()() is None


def test_podman_version_soon_raises_what_the_thread_met(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 125
    fake.stderr = "chroot: cannot change root directory to '/x': Operation not permitted\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    answer = runner.podman_version_soon()
    with pytest.raises(CheckEnvironmentError, match="cannot enter the node's filesystem"):
        answer()


@pytest.mark.parametrize(("release", "retry"), [("4.3.1", False), ("5.2.0", True), (None, False)])
def test_podman_5_is_told_not_to_retry_the_whole_list(
    host_root: Path, big_disk: None, release: Optional[str], retry: bool
) -> None:
    """CRI-O walks the sources once: podman 5's three retries (4.x has no option) would
    turn 'every source failed' into a timeout."""
    fake = FakeRun(host_root)
    fake.stdout = f"podman version {release}\n" if release else "no version\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    runner.podman_version()
    runner.pull(REF)
    pull = fake.calls[-1]["argv"]
    assert ("--retry" in pull) == retry
    if retry:
        assert pull[pull.index("--retry") + 1] == "0"
        assert pull.index("--retry") < pull.index("--")


def test_missing_tool_on_the_node_is_command_not_found(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 127
    fake.stderr = "chroot: failed to run command 'skopeo': No such file or directory\n"
    with pytest.raises(CommandNotFound, match="skopeo") as caught:
        NodeRunner(settings_for(host_root), run=fake).inspect_manifest(REF)
    assert str(host_root) in caught.value.message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


@pytest.mark.usefixtures("big_disk")  # whatever this machine has free
def test_chroot_refused_is_an_environment_error(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 125
    fake.stderr = (
        f"chroot: cannot change root directory to '{host_root}': Operation not permitted\n"
    )
    with pytest.raises(CheckEnvironmentError, match="Operation not permitted"):
        NodeRunner(settings_for(host_root), storage="node", run=fake).pull(REF)


@pytest.mark.usefixtures("big_disk")
def test_podman_errors_are_results_not_exceptions(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 125
    fake.stderr = (
        "Error: initializing source docker://quay.io/x: reading manifest: manifest unknown\n"
    )
    result = NodeRunner(settings_for(host_root), storage="node", run=fake).pull(REF)
    assert result.exit_code == 125 and "manifest unknown" in result.stderr


def test_real_chroot_without_the_tool_is_command_not_found(tmp_path: Path) -> None:
    """The real chroot into a node that has no podman (needs root, as the agent does)."""
    empty_node = tmp_path / "node"
    (empty_node / "var" / "tmp").mkdir(parents=True)
    runner = NodeRunner(settings_for(empty_node), storage="node", timeout=30)
    with pytest.raises(CommandNotFound, match="journalctl") as caught:
        runner.crio_journal()
    assert "chroot" in caught.value.message
    assert runner.podman_version() is None


# -- scratch store ---------------------------------------------------------------------


def test_not_enough_disk_space_is_refused_before_anything_runs(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = SimpleNamespace(total=10 * 1024**3, used=9 * 1024**3, free=1024**3, percent=90.0)
    asked: list[str] = []

    def disk_usage(path: str) -> SimpleNamespace:
        asked.append(path)
        return usage

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root), run=fake, min_free_bytes=2 * 1024**3)
    with pytest.raises(CheckEnvironmentError) as caught:
        runner.pull(REF)
    message = caught.value.message
    assert str(host_root / "var" / "tmp") in message and "/var/tmp" in message
    assert "1.00 GiB (1073741824 bytes) free" in message
    assert "2.00 GiB (2147483648 bytes) required" in message
    assert asked == [str(host_root / "var" / "tmp")]
    assert fake.calls == [] and scratch_dirs(host_root) == []


def test_missing_scratch_parent_is_an_environment_error(tmp_path: Path) -> None:
    fake = FakeRun(tmp_path)
    with pytest.raises(CheckEnvironmentError, match="does not exist"):
        NodeRunner(settings_for(tmp_path), run=fake).pull(REF)
    assert fake.calls == []


@pytest.mark.usefixtures("big_disk")
def test_too_long_scratch_path_is_refused(host_root: Path) -> None:
    deep = "/var/tmp/" + "d" * 40
    (host_root / deep.lstrip("/")).mkdir()
    fake = FakeRun(host_root)
    with pytest.raises(CheckEnvironmentError, match="50 characters"):
        NodeRunner(settings_for(host_root), run=fake, scratch_parent=deep).pull(REF)
    assert fake.calls == [] and list((host_root / deep.lstrip("/")).iterdir()) == []


@pytest.mark.usefixtures("big_disk")
def test_scratch_is_removed_when_the_command_times_out(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.timed_out = True

    def fill(argv: list[str]) -> None:  # what podman leaves: layers with read-only modes
        layer = fake.scratch_on_agent_side(argv) / "root" / "vfs" / "dir" / "abc"
        (layer / "usr" / "bin").mkdir(parents=True)
        (layer / "usr" / "bin" / "tool").write_text("x")
        (layer / "usr" / "bin" / "tool").chmod(0o555)
        (layer / "usr" / "bin").chmod(0o555)
        (layer / "usr").chmod(0o500)
        os.symlink("/etc/passwd", layer / "link")
        os.mkfifo(layer / "fifo")

    fake.during = fill
    result = NodeRunner(settings_for(host_root), run=fake).pull(REF)
    assert result.timed_out and result.exit_code is None
    assert scratch_dirs(host_root) == []


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), Terminated(), RuntimeError("boom"), CommandNotFound("chroot")]
)
@pytest.mark.usefixtures("big_disk")
def test_scratch_is_removed_when_the_command_raises(host_root: Path, error: BaseException) -> None:
    fake = FakeRun(host_root)
    fake.during = lambda argv: (fake.scratch_on_agent_side(argv) / "root").mkdir()
    fake.raise_ = error
    with pytest.raises(type(error)):
        NodeRunner(settings_for(host_root), run=fake).pull(REF)
    assert len(fake.calls) == 1
    assert scratch_dirs(host_root) == []


@pytest.mark.usefixtures("big_disk")
def test_scratch_folder_is_new_for_every_pull(host_root: Path) -> None:
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root), run=fake)
    runner.pull(REF)
    runner.pull(REF)
    first, second = (call["argv"][4] for call in fake.calls)
    assert first != second
    assert scratch_dirs(host_root) == []


def test_scratch_store_signals_are_deferred_during_cleanup(host_root: Path, big_disk: None) -> None:
    """Ctrl-C arriving while the store is removed waits until it is gone."""
    runner = NodeRunner(settings_for(host_root), run=FakeRun(host_root))
    removed: list[bool] = []
    real_remove = runner_module.remove_tree

    def remove_slowly(path: Path) -> list[str]:
        signal.raise_signal(signal.SIGINT)  # arrives in the middle of the cleanup
        problems = real_remove(path)
        removed.append(not path.exists())
        return problems

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner_module, "remove_tree", remove_slowly)
        with pytest.raises(KeyboardInterrupt), runner.scratch_store():
            pass
    assert removed == [True]
    assert scratch_dirs(host_root) == []


def test_stop_signals_raise_between_commands_but_wait_for_cleanup(
    host_root: Path, big_disk: None
) -> None:
    """agent run's loop: SIGTERM ends it at once between commands, but a store being
    removed is removed first."""
    runner = NodeRunner(settings_for(host_root), run=FakeRun(host_root))
    removed: list[bool] = []
    real_remove = runner_module.remove_tree

    def remove_while_terminated(path: Path) -> list[str]:
        signal.raise_signal(signal.SIGTERM)  # arrives in the middle of the cleanup
        problems = real_remove(path)
        removed.append(not path.exists())
        return problems

    with stop_signals_raise():
        # never raise SIGTERM at pytest itself with the default (killing) disposition
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with pytest.raises(Terminated):
            signal.raise_signal(signal.SIGTERM)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(runner_module, "remove_tree", remove_while_terminated)
            with pytest.raises(Terminated), runner.scratch_store():
                pass
    assert removed == [True]
    assert scratch_dirs(host_root) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_stale_scratch_stores_are_swept_but_not_ones_in_use(
    host_root: Path, big_disk: None
) -> None:
    """An agent killed mid-pull (SIGKILL, OOM, a reboot) cannot remove its store: the next
    check does, unless another agent is using it or has only just made it."""
    var_tmp = host_root / "var/tmp"
    stale, busy, young = (var_tmp / f"mirror-agent-{name}" for name in ("old", "busy", "new"))
    for folder in (stale, busy, young):
        (folder / "root/overlay").mkdir(parents=True)
    for folder in (stale, busy):
        os.utime(folder, (time.time() - 3600, time.time() - 3600))
    holder = runner_module._lock_store(busy)  # another agent's lock (a second open file)
    assert holder is not None
    try:
        NodeRunner(settings_for(host_root), run=FakeRun(host_root)).pull(REF)
        assert sorted(p.name for p in var_tmp.iterdir()) == [
            "mirror-agent-busy",
            "mirror-agent-new",
        ]
    finally:
        os.close(holder)


def test_a_stop_while_the_scratch_store_is_made_leaves_nothing(
    host_root: Path, big_disk: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp_interrupted(**kwargs: Any) -> str:
        made = real_mkdtemp(**kwargs)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C right after the folder exists
        return made

    monkeypatch.setattr(runner_module.tempfile, "mkdtemp", mkdtemp_interrupted)
    fake = FakeRun(host_root)
    with pytest.raises(KeyboardInterrupt):
        NodeRunner(settings_for(host_root), run=fake).pull(REF)
    assert fake.calls == [] and scratch_dirs(host_root) == []


def test_node_temp_file(host_root: Path) -> None:
    runner = NodeRunner(settings_for(host_root), run=FakeRun(host_root))
    with runner.node_temp_file("[[registry]]\nlocation = 'x'\n") as node_path:
        assert re.fullmatch(r"/var/tmp/mirror-agent-[A-Za-z0-9_]+\.conf", node_path)
        agent_side = host_root / node_path.lstrip("/")
        assert agent_side.read_text() == "[[registry]]\nlocation = 'x'\n"
    assert not agent_side.exists()
    with pytest.raises(RuntimeError), runner.node_temp_file("x") as node_path:
        raise RuntimeError
    assert not (host_root / node_path.lstrip("/")).exists()


def test_mounts_below_reads_mountinfo(tmp_path: Path) -> None:
    top = tmp_path / "var tmp" / "mirror-agent-x"
    escaped = str(top).replace(" ", "\\040")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        f"90 27 0:50 / {escaped}/root/overlay rw - ext4 /dev/vda rw\n"
        f"91 90 0:51 / {escaped}/root/overlay/l/x rw - overlay overlay rw\n"
        f"92 27 0:52 / {escaped}-other rw - tmpfs tmpfs rw\n"
        f"93 27 0:53 / {escaped} rw - tmpfs tmpfs rw\n"
    )
    assert mounts_below(top, str(mountinfo)) == [
        f"{top}/root/overlay/l/x",
        f"{top}/root/overlay",
        str(top),
    ]


# ======================================================================================
# NodeSettings


def test_detect_reads_auth_file_and_proxy(host_root: Path) -> None:
    (host_root / "var/lib/kubelet/config.json").write_text('{"auths": {}}')
    (host_root / "etc/mco/proxy.env").write_text(
        "HTTP_PROXY=http://proxy:3128\nHTTPS_PROXY=http://proxy:3128\nNO_PROXY=.cluster.local\n"
    )
    settings = NodeSettings.detect(host_root)
    assert settings.host_root == host_root
    assert settings.auth_file == AUTH
    assert settings.proxy_env == {
        "HTTP_PROXY": "http://proxy:3128",
        "HTTPS_PROXY": "http://proxy:3128",
        "NO_PROXY": ".cluster.local",
    }


def test_detect_without_auth_or_proxy(host_root: Path) -> None:
    settings = NodeSettings.detect(host_root)
    assert settings.auth_file is None and settings.proxy_env == {}


def test_detect_follows_node_symlinks_inside_the_host_root(host_root: Path) -> None:
    (host_root / "data").mkdir()
    (host_root / "data" / "pull-secret.json").write_text("{}")
    (host_root / "var/lib/kubelet/config.json").symlink_to("/data/pull-secret.json")
    (host_root / "etc/mco/proxy.env").symlink_to("/nonexistent-on-the-node")
    settings = NodeSettings.detect(host_root)
    assert settings.auth_file == AUTH
    assert settings.proxy_env == {}


def test_detect_a_directory_is_not_an_auth_file(host_root: Path) -> None:
    (host_root / "var/lib/kubelet/config.json").mkdir()
    assert NodeSettings.detect(host_root).auth_file is None


def test_detect_missing_host_root(tmp_path: Path) -> None:
    with pytest.raises(CheckEnvironmentError, match="not a directory"):
        NodeSettings.detect(tmp_path / "nothing")


def test_detect_makes_the_host_root_absolute(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(host_root.parent)
    assert NodeSettings.detect(Path(host_root.name)).host_root == host_root


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTP_PROXY=http://p:3128\n", {"HTTP_PROXY": "http://p:3128"}),
        ("export HTTPS_PROXY=http://p:3128", {"HTTPS_PROXY": "http://p:3128"}),
        ('NO_PROXY="a,b, c"\n', {"NO_PROXY": "a,b, c"}),
        ("no_proxy='.svc'\n", {"no_proxy": ".svc"}),
        ('HTTP_PROXY="http://u:p\\"w@p:1"', {"HTTP_PROXY": 'http://u:p"w@p:1'}),
        ("  http_proxy = http://p:1  \n", {"http_proxy": "http://p:1"}),
        ("# HTTP_PROXY=http://commented\n; NO_PROXY=x\n\n", {}),
        ("HTTP_PROXY=\nHTTPS_PROXY=''\n", {}),
        (
            "FTP_PROXY=x\nPATH=/evil\nLD_PRELOAD=/x.so\nHTTP_PROXY=http://p:1\n",
            {"HTTP_PROXY": "http://p:1"},
        ),
        ("garbage line\nHTTPS_PROXY=http://p:2\n", {"HTTPS_PROXY": "http://p:2"}),
        ("HTTP_PROXY=http://a:1\nHTTP_PROXY=http://b:2\n", {"HTTP_PROXY": "http://b:2"}),
        ("HTTP_PROXY=http://p:1\r\n", {"HTTP_PROXY": "http://p:1"}),
    ],
)
def test_parse_proxy_env(text: str, expected: dict[str, str]) -> None:
    assert parse_proxy_env(text) == expected


def test_command_not_found_names_the_executable_and_what_to_install() -> None:
    error = CommandNotFound("podman", where="on the node (chroot /host)", detail="No such file")
    assert error.message == "cannot run 'podman' on the node (chroot /host): No such file"
    assert error.hint and "podman" in error.hint
    assert CommandNotFound("/usr/sbin/chroot").hint == CommandNotFound("chroot").hint


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """No test here may leave a process of its own running (others, e.g. the session
    lab's registries, are left alone)."""
    me = psutil.Process()
    before = {process.pid for process in me.children(recursive=True)}
    yield
    left = [
        process
        for process in me.children(recursive=True)
        if process.pid not in before and not gone(process.pid)
    ]
    for process in left:
        process.kill()
    assert left == []
