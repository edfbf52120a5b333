"""agent/pull/scratch.py: throw-away container stores on the node, and removing them."""

from __future__ import annotations

import os
import re
import signal
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import psutil
import pytest

from agent.errors import CheckEnvironmentError, UsageError
from agent.node.paths import HostRoot
from agent.process import Terminated, stop_signals_raise
from agent.pull.scratch import (
    RUNROOT_MAX,
    ScratchFolder,
    lock_store,
    mounts_below,
    remove_tree,
    require_free_space,
)
from tests.support.stops import signal_during_removal

NODE_STORE_NAME = re.compile(r"/var/tmp/mirror-agent-[A-Za-z0-9_]+")


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A node filesystem with only the scratch folder."""
    root = tmp_path / "host"
    (root / "var" / "tmp").mkdir(parents=True)
    return root


@pytest.fixture
def folder(host_root: Path) -> ScratchFolder:
    return ScratchFolder(HostRoot(host_root), "/var/tmp")


def scratch_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "var" / "tmp").iterdir())


def agent_side(root: Path, node_path: str) -> Path:
    return root / node_path.lstrip("/")


# ======================================================================================
# a store's life


def test_a_store_is_new_locked_while_in_use_and_removed_afterwards(
    host_root: Path, folder: ScratchFolder
) -> None:
    made = []
    for _ in range(2):
        with folder.store() as node_dir:
            assert NODE_STORE_NAME.fullmatch(node_dir)
            store = agent_side(host_root, node_dir)
            assert (store / "tmp").is_dir()
            assert lock_store(store) is None  # another agent's sweep leaves it alone
            made.append(node_dir)
        assert scratch_dirs(host_root) == []
    assert made[0] != made[1]


@pytest.mark.parametrize(
    "error",
    [KeyboardInterrupt(), Terminated(), RuntimeError("boom")],
    ids=lambda e: type(e).__name__,
)
def test_a_store_is_removed_when_its_user_raises(
    host_root: Path, folder: ScratchFolder, error: BaseException
) -> None:
    with pytest.raises(type(error)), folder.store() as node_dir:
        (agent_side(host_root, node_dir) / "root" / "vfs").mkdir(parents=True)
        raise error
    assert scratch_dirs(host_root) == []


def test_a_store_with_read_only_layers_is_removed(host_root: Path, folder: ScratchFolder) -> None:
    with folder.store() as node_dir:  # what podman leaves: layers with read-only modes
        layer = agent_side(host_root, node_dir) / "root" / "vfs" / "dir" / "abc"
        (layer / "usr" / "bin").mkdir(parents=True)
        (layer / "usr" / "bin" / "tool").write_text("x")
        (layer / "usr" / "bin" / "tool").chmod(0o555)
        (layer / "usr" / "bin").chmod(0o555)
        (layer / "usr").chmod(0o500)
        os.symlink("/etc/passwd", layer / "link")
        os.mkfifo(layer / "fifo")
    assert scratch_dirs(host_root) == []


def test_a_missing_scratch_folder_is_an_environment_error(tmp_path: Path) -> None:
    folder = ScratchFolder(HostRoot(tmp_path), "/var/tmp")
    with pytest.raises(CheckEnvironmentError, match="does not exist"), folder.store():
        pass
    with pytest.raises(CheckEnvironmentError, match="does not exist"), folder.temp_file("x"):
        pass


def test_a_relative_scratch_folder_is_refused(host_root: Path) -> None:
    with pytest.raises(UsageError, match="absolute node path"):
        ScratchFolder(HostRoot(host_root), "var/tmp")


def test_too_long_scratch_path_is_refused(host_root: Path) -> None:
    deep = "/var/tmp/" + "d" * 40
    agent_side(host_root, deep).mkdir()
    folder = ScratchFolder(HostRoot(host_root), deep)
    with pytest.raises(CheckEnvironmentError, match=f"{RUNROOT_MAX} characters"), folder.store():
        raise AssertionError("not reached")
    assert list(agent_side(host_root, deep).iterdir()) == []


# ======================================================================================
# stops that arrive while a store is made or removed


def test_a_stop_while_the_store_is_removed_waits_until_it_is_gone(
    host_root: Path, folder: ScratchFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C arriving while the store is removed waits until it is gone."""
    removed = signal_during_removal(monkeypatch, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), folder.store():
        pass
    assert removed == [True]
    assert scratch_dirs(host_root) == []


def test_stop_signals_raise_between_commands_but_wait_for_cleanup(
    host_root: Path, folder: ScratchFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent run's loop: SIGTERM ends it at once between commands, but a store being
    removed is removed first."""
    with stop_signals_raise():
        # never raise SIGTERM at pytest itself with the default (killing) disposition
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with pytest.raises(Terminated):
            signal.raise_signal(signal.SIGTERM)
        removed = signal_during_removal(monkeypatch, signal.SIGTERM)
        with pytest.raises(Terminated), folder.store():
            pass
    assert removed == [True]
    assert scratch_dirs(host_root) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_stop_while_the_store_is_made_leaves_nothing(
    host_root: Path, folder: ScratchFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp_interrupted(**kwargs: Any) -> str:
        made = real_mkdtemp(**kwargs)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C right after the folder exists
        return made

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_interrupted)
    with pytest.raises(KeyboardInterrupt), folder.store():
        raise AssertionError("not reached")
    assert scratch_dirs(host_root) == []


# ======================================================================================
# stores left behind


def test_stale_stores_are_swept_but_not_ones_in_use(host_root: Path, folder: ScratchFolder) -> None:
    """An agent killed mid-pull (SIGKILL, OOM, a reboot) cannot remove its store: the next
    one does, unless another agent is using it or has only just made it."""
    var_tmp = host_root / "var/tmp"
    stale, busy, young = (var_tmp / f"mirror-agent-{name}" for name in ("old", "busy", "new"))
    for store in (stale, busy, young):
        (store / "root/overlay").mkdir(parents=True)
    for store in (stale, busy):
        os.utime(store, (time.time() - 3600, time.time() - 3600))
    (var_tmp / "unrelated").mkdir()
    os.utime(var_tmp / "unrelated", (time.time() - 3600, time.time() - 3600))
    holder = lock_store(busy)  # another agent's lock (a second open file)
    assert holder is not None
    try:
        with folder.store():
            pass
        assert scratch_dirs(host_root) == ["mirror-agent-busy", "mirror-agent-new", "unrelated"]
    finally:
        os.close(holder)


def test_sweeping_says_what_it_removed(host_root: Path, folder: ScratchFolder) -> None:
    stale = host_root / "var/tmp/mirror-agent-old"
    stale.mkdir()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert folder.sweep_stale_stores() == ["/var/tmp/mirror-agent-old"]
    assert folder.sweep_stale_stores() == []


# ======================================================================================
# temporary files, free space


def test_temp_file(host_root: Path, folder: ScratchFolder) -> None:
    with folder.temp_file("[[registry]]\nlocation = 'x'\n") as node_path:
        assert re.fullmatch(r"/var/tmp/mirror-agent-[A-Za-z0-9_]+\.conf", node_path)
        file = agent_side(host_root, node_path)
        assert file.read_text() == "[[registry]]\nlocation = 'x'\n"
    assert not file.exists()
    with pytest.raises(RuntimeError), folder.temp_file("x") as node_path:
        raise RuntimeError
    assert not agent_side(host_root, node_path).exists()


@pytest.mark.parametrize(
    ("free", "required", "refused"),
    [(1024**3, 2 * 1024**3, True), (2 * 1024**3, 2 * 1024**3, False), (10**13, 0, False)],
)
def test_require_free_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, required: int, refused: bool
) -> None:
    asked: list[str] = []

    def disk_usage(path: str) -> SimpleNamespace:
        asked.append(path)
        return SimpleNamespace(total=10**14, used=10**14 - free, free=free, percent=50.0)

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    if refused:
        with pytest.raises(CheckEnvironmentError) as caught:
            require_free_space(tmp_path, "/var/tmp", required)
        message = caught.value.message
        assert str(tmp_path) in message and "(node path /var/tmp)" in message
        assert "1.00 GiB (1073741824 bytes) free" in message
        assert "2.00 GiB (2147483648 bytes) required" in message
    else:
        require_free_space(tmp_path, "/var/tmp", required)
    assert asked == [str(tmp_path)]


@pytest.mark.parametrize("problem", [None, OSError(5, "Input/output error")])
def test_free_space_of_a_missing_or_unmeasurable_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: Optional[OSError]
) -> None:
    def disk_usage(path: str) -> SimpleNamespace:
        assert problem is not None, "a missing place is not measured"
        raise problem

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    if problem is None:
        require_free_space(tmp_path / "no-store-yet", "/var/lib/containers/storage", 1)
    else:
        with pytest.raises(CheckEnvironmentError, match="Input/output error"):
            require_free_space(tmp_path, "/var/tmp", 1)


# ======================================================================================
# mounts


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


def test_remove_tree_of_a_tree_without_mounts(tmp_path: Path) -> None:
    tree = tmp_path / "mirror-agent-x"
    (tree / "root" / "a").mkdir(parents=True)
    (tree / "root" / "a" / "file").write_text("x")
    (tree / "root").chmod(0o500)
    assert remove_tree(tree) == []
    assert not tree.exists()
