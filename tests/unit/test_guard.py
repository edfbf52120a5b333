"""The conftest guard keeps tests away from the machine's real container configuration."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import RealConfigGuard

REAL_CONF = "/etc/containers/registries.conf"


def test_open_is_refused(real_config_guard: RealConfigGuard) -> None:
    with real_config_guard.expect_violation():
        open(REAL_CONF).close()
    with real_config_guard.expect_violation():
        Path(REAL_CONF).read_text()


def test_path_exists_is_refused(real_config_guard: RealConfigGuard) -> None:
    with real_config_guard.expect_violation():
        Path(REAL_CONF).exists()
    with real_config_guard.expect_violation():
        Path(REAL_CONF).is_file()
    with real_config_guard.expect_violation():
        os.path.exists(REAL_CONF)


def test_listdir_is_refused(real_config_guard: RealConfigGuard) -> None:
    with real_config_guard.expect_violation():
        os.listdir(REAL_CONF)
    with real_config_guard.expect_violation():
        os.listdir("/etc/containers")
    with real_config_guard.expect_violation():
        list(Path("/etc/containers/registries.conf.d").iterdir())
    with real_config_guard.expect_violation():
        os.scandir("/etc/containers").close()


@pytest.mark.parametrize(
    "path",
    [
        "/etc/containers",
        "/etc/containers/policy.json",
        "/var/lib/containers/storage",
        "/run/containers/0/auth.json",
        "/root/.config/containers/registries.conf",
        "/etc/containers/../containers/registries.conf",
    ],
)
def test_every_guarded_tree(real_config_guard: RealConfigGuard, path: str) -> None:
    with real_config_guard.expect_violation():
        os.stat(path)


def test_relative_path_is_resolved_against_cwd(
    real_config_guard: RealConfigGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/etc")
    with real_config_guard.expect_violation():
        open("containers/registries.conf").close()
    with real_config_guard.expect_violation():
        Path("containers").exists()


def test_symlink_into_guarded_tree_is_resolved(
    real_config_guard: RealConfigGuard, tmp_path: Path
) -> None:
    link = tmp_path / "innocent.conf"
    link.symlink_to(REAL_CONF)  # making the link does not touch its target
    with real_config_guard.expect_violation():
        link.read_text()


def test_swallowed_violation_is_still_recorded(real_config_guard: RealConfigGuard) -> None:
    before = len(real_config_guard.violations)
    with contextlib.suppress(Exception):  # what careless code under test might do
        Path(REAL_CONF).read_text()
    assert len(real_config_guard.violations) == before + 1
    assert "/etc/containers" in real_config_guard.violations[-1]
    real_config_guard.violations.pop()  # otherwise this test fails at teardown, by design


def test_tmp_paths_are_fine(
    real_config_guard: RealConfigGuard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "etc" / "containers" / "registries.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("unqualified-search-registries = []\n")
    assert conf.exists()
    assert conf.is_file()
    assert os.listdir(conf.parent) == ["registries.conf"]
    assert [entry.name for entry in os.scandir(conf.parent)] == ["registries.conf"]
    with open(conf) as handle:
        assert "unqualified" in handle.read()
    shutil.copyfile(conf, tmp_path / "copy.conf")
    monkeypatch.chdir(tmp_path)
    assert Path("copy.conf").is_file()
    assert real_config_guard.violations == []
    assert real_config_guard.active
