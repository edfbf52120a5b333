"""The node's disk and processes: commands die with the agent, a store stays locked while
anything of its pull runs, the disk is watched during a pull, out of space is the node's."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import psutil
import pytest

from agent.commands.check import CheckOptions
from agent.process import death_signal_wrapper, run_command
from agent.pull.runner import DISK_FILL_RATE, NodeRunner
from agent.pull.scratch import NodeDiskFull, lock_store
from agent.reference import parse_normalized
from tests.support.data import PROJECT_ROOT
from tests.unit.commands.fakes import SRC, FakeRunner, check, host_with
from tests.unit.test_runner import FakeRun, settings_for

GIB = 1024**3


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("way", ["setpriv", "preexec_fn"])
def test_a_command_dies_when_the_agent_is_killed(tmp_path: Path, way: str) -> None:
    """kill -9 of the agent: the command it ran (in a session of its own) goes too, behind
    util-linux's setpriv or, where it is missing, with the prctl run before exec."""
    if way == "setpriv":
        assert death_signal_wrapper() is not None, "setpriv (util-linux) is not installed"
    pid_file = tmp_path / "pid"
    agent = textwrap.dedent(
        f"""
        import agent.process
        from agent.process import run_command
        if {way == "preexec_fn"}:
            agent.process.death_signal_wrapper = lambda: None
        run_command(
            ["sh", "-c", "echo $$ > {pid_file}; exec sleep 300"], timeout=600
        )
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", agent], env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    )
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert psutil.Process(child).is_running()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert _gone(child), "the command outlived the agent"
    finally:
        if process.poll() is None:
            process.kill()


def test_the_store_lock_is_held_by_the_command_itself(tmp_path: Path) -> None:
    """The lock passed to a command stays held while the command runs, whatever becomes of
    the agent's own descriptor: a sweep never takes a store a process still uses."""
    store = tmp_path / "mirror-agent-x"
    store.mkdir()
    lock = lock_store(store)
    assert lock is not None
    seen: list[Any] = []

    def watch() -> None:
        if not seen:
            os.close(lock)  # the agent's descriptor is gone; the command's is not
            seen.append(lock_store(store))
            raise KeyboardInterrupt  # stop the command

    with pytest.raises(KeyboardInterrupt):
        run_command(["sleep", "30"], timeout=60, watch=watch, keep_fds=(lock,))
    assert seen == [None]
    free_now = lock_store(store)
    assert free_now is not None  # the command is gone: the lock with it
    os.close(free_now)


def test_watch_stops_the_command_with_its_error(tmp_path: Path) -> None:
    calls: list[float] = []

    def watch() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            raise NodeDiskFull("full")

    started = time.monotonic()
    with pytest.raises(NodeDiskFull):
        run_command(["sleep", "30"], timeout=60, watch=watch)
    assert time.monotonic() - started < 20  # not the sleep's 30 s


@pytest.mark.parametrize(("wait", "looks_at_least"), [(60.0, 8), (None, 40), (0.0, 40)])
def test_a_watch_is_called_again_after_the_time_it_asks_for_within_10_to_100_ms(
    wait: Optional[float], looks_at_least: int
) -> None:
    """A watch far from the reserve asks for 60 s and is still looked at every 100 ms (a
    2 s command: about 20 looks); one that says nothing, or asks for no wait at all, every
    10 ms (about 200)."""
    calls: list[float] = []

    def watch() -> Optional[float]:
        calls.append(time.monotonic())
        return wait

    run_command(["sleep", "2"], timeout=60, watch=watch)
    assert looks_at_least <= len(calls) <= 2.5 / 0.01


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "var" / "tmp").mkdir(parents=True)
    (root / "etc" / "mco").mkdir(parents=True)
    return root


def _disk(monkeypatch: pytest.MonkeyPatch, free: list[int]) -> None:
    """Free space that shrinks at each look (the last value stays)."""

    def usage(_path: str) -> Any:
        value = free.pop(0) if len(free) > 1 else free[0]
        return SimpleNamespace(total=100 * GIB, used=0, free=value, percent=0.0)

    monkeypatch.setattr(psutil, "disk_usage", usage)


def test_a_pull_is_given_the_disk_watch_and_the_store_lock(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk(monkeypatch, [10 * GIB, 10 * GIB, 1 * GIB])  # before the pull, then two looks
    run = FakeRun(host_root)
    stores: list[Path] = []

    def during(argv: list[str]) -> None:
        store = run.scratch_on_agent_side(argv)
        stores.append(store)
        assert lock_store(store) is None  # locked while podman runs
        call = run.calls[-1]
        assert call["keep_fds"] and call["watch"] is not None
        # 10 GiB free: fine, and 8 GiB above the reserve take 1 s to fill at 8 GiB/s
        assert call["watch"]() == pytest.approx(8 * GIB / DISK_FILL_RATE)
        call["watch"]()  # 1 GiB: below the 2 GiB reserve

    run.during = during
    runner = NodeRunner(settings_for(host_root), min_free_bytes=2 * GIB, run=run)
    with pytest.raises(NodeDiskFull) as stopped:
        runner.pull(parse_normalized(SRC))
    assert "below the reserve" in stopped.value.message
    assert stores and not stores[0].exists()  # the store removed


def test_the_watch_counts_every_pull_in_flight_as_writing(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk(monkeypatch, [10 * GIB])
    run = FakeRun(host_root)
    delays: list[Optional[float]] = []
    run.during = lambda argv: delays.append(run.calls[-1]["watch"]())
    runner = NodeRunner(settings_for(host_root), min_free_bytes=2 * GIB, run=run)
    with contextlib.ExitStack() as others:
        for _ in range(3):  # three other pulls hold their room meanwhile
            others.enter_context(runner.in_flight.reserve(GIB, lambda held: None))
        runner.pull(parse_normalized(SRC))
    # 8 GiB above the reserve, four pulls writing at 8 GiB/s each: 0.25 s
    assert delays == [pytest.approx(8 * GIB / (4 * DISK_FILL_RATE))]


def test_out_of_space_in_the_log_is_the_nodes_disk(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk(monkeypatch, [10 * GIB])
    run = FakeRun(host_root)
    run.exit_code = 125
    run.stderr = (
        'Error: writing blob: storing blob to file "/var/tmp/x/tmp/1": write /var/tmp/x/tmp/1: '
        "no space left on device\n"
    )
    runner = NodeRunner(settings_for(host_root), min_free_bytes=2 * GIB, run=run)
    with pytest.raises(NodeDiskFull):
        runner.pull(parse_normalized(SRC))
    assert os.listdir(host_root / "var" / "tmp") == []


def test_a_full_disk_is_an_image_finding_not_a_mirror_failure(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    runner = FakeRunner({SRC: NodeDiskFull("the pull was stopped: below the reserve")})
    report = check(runner, root, CheckOptions((SRC,)))
    (image,) = report.images
    assert [f.code for f in image.findings] == ["node-disk-full"]
    assert image.verdict == "error" and image.served_by is None
    assert not image.attempts  # no mirror is blamed
