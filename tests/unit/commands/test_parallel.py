"""Several images checked at once (agent/commands/parallel.py, run_check's --parallel):
results as a serial run gives them, in input order; one image's failure stops no other;
a stop (Ctrl-C, SIGTERM) stops every pull in flight and removes every scratch store; the
free-space check covers the pulls in flight (agent/pull/room.py)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import psutil
import pytest

from agent.commands.check import CheckOptions
from agent.commands.parallel import DEFAULT_PARALLEL, check_concurrently, parallel_limits
from agent.errors import CheckEnvironmentError, UsageError
from agent.node.settings import NodeSettings
from agent.process import CommandResult, run_command
from agent.pull.room import PullsInFlight
from agent.pull.runner import NodeRunner
from agent.report import ImageResult
from tests.unit.commands.fakes import SRC, D, FakeRunner, check, fixture, host_with, result
from tests.unit.process_watch import no_leftover_processes

GIB = 1024**3
OTHERS = [f"127.0.0.1:5101/src/image-{n}@{D}" for n in range(5)]


class ConcurrentRunner(FakeRunner):
    """A FakeRunner whose first ``meet`` pulls must all be under way at the same time
    (each waits for the others at a barrier), so a serial run cannot pass."""

    def __init__(self, pulls: dict[str, Any], *, meet: int) -> None:
        super().__init__(pulls)
        self.barrier = threading.Barrier(meet, timeout=10) if meet > 1 else None
        self._lock = threading.Lock()
        self.started = 0
        self.running = 0
        self.most = 0

    def pull(self, reference: str, *, on_stderr_line: Any = None) -> CommandResult:
        with self._lock:
            self.started += 1
            self.running += 1
            self.most = max(self.most, self.running)
            first = self.started <= (self.barrier.parties if self.barrier else 0)
        try:
            if first and self.barrier is not None:
                self.barrier.wait()
            return super().pull(reference, on_stderr_line=on_stderr_line)
        finally:
            with self._lock:
                self.running -= 1


def answers() -> dict[str, Any]:
    """A fallback, an environment error, a timeout, a failure and two clean pulls."""
    return {
        SRC: result(fixture("first-mirror-down")),
        OTHERS[0]: CheckEnvironmentError("the scratch folder is not writable"),
        OTHERS[1]: result(fixture("first-mirror-down"), None, timed_out=True),
        OTHERS[2]: result(fixture("all-fail"), 125),
        OTHERS[3]: result(fixture("first-mirror-down")),
        OTHERS[4]: result(fixture("first-mirror-down")),
    }


def images_json(report: Any) -> list[dict[str, Any]]:
    return list(report.to_json()["images"])


def test_concurrent_results_are_the_serial_ones_in_input_order(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    images = (SRC, *OTHERS)
    serial = check(ConcurrentRunner(answers(), meet=1), root, CheckOptions(images, parallel=1))
    runner = ConcurrentRunner(answers(), meet=3)
    concurrent = check(runner, root, CheckOptions(images, parallel=3))
    assert runner.most == 3  # the barrier: three pulls were under way together
    assert [i["image"] for i in images_json(concurrent)] == list(images)
    assert images_json(concurrent) == images_json(serial)
    assert concurrent.verdict == serial.verdict
    verdicts = [i["verdict"] for i in images_json(concurrent)]
    assert verdicts[:3] == ["warn", "error", "error"]  # a fallback, the environment, a timeout
    assert "timeout" in [f["code"] for f in images_json(concurrent)[2]["findings"]]
    assert sorted(call[1] for call in runner.calls) == sorted(images)


def test_pulls_default_to_four_at_once_and_never_more(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    runner = ConcurrentRunner(
        {image: result(fixture("first-mirror-down")) for image in OTHERS}, meet=4
    )
    report = check(runner, root, CheckOptions(tuple(OTHERS)))
    assert DEFAULT_PARALLEL["pull"] == 4
    assert runner.most == 4
    assert len(runner.calls) == len(report.images) == len(OTHERS)


def test_progress_counts_the_images_done(tmp_path: Path) -> None:
    root = host_with(tmp_path, "first-mirror-down")
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def progress(image: str, state: str) -> None:
        with lock:
            seen.append((image, state))

    runner = FakeRunner({image: result(fixture("first-mirror-down")) for image in OTHERS[:3]})
    check(runner, root, CheckOptions(tuple(OTHERS[:3]), parallel=1), progress=progress)
    starts = [image for image, state in seen if state == "starting"]
    assert starts == [f"{n} of 3 done · {image}" for n, image in enumerate(OTHERS[:3])]


def test_limits_per_method() -> None:
    assert parallel_limits(None) == {"pull": 4, "manifest": 8}
    assert parallel_limits(5) == {"pull": 5, "manifest": 5}
    with pytest.raises(UsageError, match="--parallel"):
        parallel_limits(0)


def test_mixed_methods_keep_each_limit() -> None:
    """Manifest checks go on beside a pull, each method within its own limit and all
    within the largest."""
    lock = threading.Lock()
    running = {"pull": 0, "manifest": 0}
    most = {"pull": 0, "manifest": 0, "all": 0}
    gate = threading.Event()
    images = [f"p{n}" for n in range(4)] + [f"m{n}" for n in range(6)]

    def method_of(image: str) -> str:
        return "pull" if image.startswith("p") else "manifest"

    def one(image: str) -> ImageResult:
        method = method_of(image)
        with lock:
            running[method] += 1
            most[method] = max(most[method], running[method])
            most["all"] = max(most["all"], sum(running.values()))
            if most["all"] == 3:
                gate.set()
        gate.wait(10)  # nothing ends before three checks ran together
        with lock:
            running[method] -= 1
        return ImageResult(image=image, verdict="pass")

    outcome = check_concurrently(images, method_of, one, {"pull": 1, "manifest": 3})
    assert [r.image for r in outcome.results if r] == images
    assert (most["pull"], most["all"]) == (1, 3)
    assert 2 <= most["manifest"] <= 3


def test_a_bug_in_one_check_is_raised_once_the_others_ended() -> None:
    ended: list[str] = []

    def one(image: str) -> ImageResult:
        if image == "bad":
            raise ZeroDivisionError("a bug")
        ended.append(image)
        return ImageResult(image=image, verdict="pass")

    with pytest.raises(ZeroDivisionError):
        check_concurrently(["a", "bad", "b"], lambda _: "pull", one, {"pull": 3})


# --------------------------------------------------------------------------------------
# a stop in the main thread stops every pull in flight; their scratch stores go


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    root = host_with(tmp_path, "first-mirror-down")
    (root / "var" / "tmp").mkdir(parents=True)
    return root


def disk_with(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    usage = SimpleNamespace(total=100 * GIB, used=100 * GIB - free, free=free, percent=50.0)
    monkeypatch.setattr(psutil, "disk_usage", lambda _path: usage)


class SleepingRun:
    """run_command with every command replaced by a Python that sleeps: a pull that hangs."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.stores: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, argv: list[str], **kwargs: Any) -> CommandResult:
        if "pull" not in argv:  # podman --version
            return CommandResult(tuple(argv), 0, "podman version 4.3.1\n", "", False, 0.1)
        with self._lock:
            self.stores.append(argv[argv.index("--root") + 1].rsplit("/", 1)[0])
        self.started.release()
        return run_command([sys.executable, "-c", "import time; time.sleep(60)"], **kwargs)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_ends_every_pull_in_flight_and_removes_every_store(
    host_root: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    disk_with(monkeypatch, 100 * GIB)
    run = SleepingRun()
    runner = NodeRunner(NodeSettings(host_root, None), run=run, timeout=120)

    def stop_when_both_run() -> None:
        for _ in range(2):
            run.started.acquire(timeout=30)
        os.kill(os.getpid(), signum)

    images = (SRC, *OTHERS[:3])
    with no_leftover_processes():
        threading.Thread(target=stop_when_both_run, daemon=True).start()
        report = check(runner, host_root, CheckOptions(images, parallel=2))  # type: ignore[arg-type]
    assert report.to_json()["interrupted"] == ("SIGINT" if signum == signal.SIGINT else "SIGTERM")
    assert [i.verdict for i in report.images] == ["error"] * 4
    assert {i.findings[0].code for i in report.images} == {"interrupted"}
    assert len(run.stores) == 2  # the two in flight; the others never started
    assert list((host_root / "var" / "tmp").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# --------------------------------------------------------------------------------------
# room on the disk for the pulls in flight


def test_the_check_covers_what_the_pulls_in_flight_hold() -> None:
    room = PullsInFlight()
    asked: list[int] = []
    with room.reserve(2 * GIB, asked.append), room.reserve(3 * GIB, asked.append):
        assert (room.count, room.held_bytes) == (2, 5 * GIB)
    assert asked == [0, 2 * GIB]
    assert (room.count, room.held_bytes) == (0, 0)


def test_free_space_refuses_a_pull_that_does_not_fit_beside_those_in_flight(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_with(monkeypatch, 3 * GIB)
    runner = NodeRunner(NodeSettings(host_root, None), min_free_bytes=2 * GIB)
    runner.check_free_space()  # alone it fits
    with pytest.raises(CheckEnvironmentError, match=r"4.00 GiB .* required"):
        runner.check_free_space(held=2 * GIB)  # not beside one pull in flight


class RecordingRun:
    """A fake run_command: the first ``meet`` pulls wait for each other; records how many
    pulls the runner had in flight at each start."""

    def __init__(self, meet: int, stderr: str) -> None:
        self.runner: Optional[NodeRunner] = None
        self.in_flight: list[int] = []
        self.barrier = threading.Barrier(meet, timeout=10)
        self.meet = meet
        self.stderr = stderr
        self._lock = threading.Lock()

    def __call__(self, argv: list[str], **kwargs: Any) -> CommandResult:
        if "pull" not in argv:  # podman --version
            return CommandResult(tuple(argv), 0, "podman version 4.3.1\n", "", False, 0.1)
        assert self.runner is not None
        with self._lock:
            self.in_flight.append(self.runner.in_flight.count)
            first = len(self.in_flight) <= self.meet
        if first:
            self.barrier.wait()
        return CommandResult(tuple(argv), 0, "", self.stderr, False, 0.1)


@pytest.fixture
def pulls_recorded() -> Iterator[RecordingRun]:
    yield RecordingRun(2, fixture("first-mirror-down"))


def test_a_pull_waits_until_it_fits_beside_the_pulls_in_flight(
    host_root: Path, monkeypatch: pytest.MonkeyPatch, pulls_recorded: RecordingRun
) -> None:
    """Room for two pulls (5 GiB free, 2 GiB each): never three at once, all checked."""
    disk_with(monkeypatch, 5 * GIB)
    runner = NodeRunner(NodeSettings(host_root, None), run=pulls_recorded, min_free_bytes=2 * GIB)
    pulls_recorded.runner = runner
    images = (SRC, *OTHERS[:3])
    report = check(runner, host_root, CheckOptions(images, parallel=4))  # type: ignore[arg-type]
    assert max(pulls_recorded.in_flight) == 2
    assert len(pulls_recorded.in_flight) == 4
    assert "error" not in [i.verdict for i in report.images]  # none refused
    assert list((host_root / "var" / "tmp").iterdir()) == []


def test_with_room_for_no_pull_every_image_is_refused(
    host_root: Path, monkeypatch: pytest.MonkeyPatch, pulls_recorded: RecordingRun
) -> None:
    disk_with(monkeypatch, GIB)
    runner = NodeRunner(NodeSettings(host_root, None), run=pulls_recorded, min_free_bytes=2 * GIB)
    report = check(runner, host_root, CheckOptions((SRC, OTHERS[0]), parallel=2))  # type: ignore[arg-type]
    assert pulls_recorded.in_flight == []
    for image in report.images:
        assert image.verdict == "error"
        assert "not enough free space" in image.findings[0].message
