"""agent/node/paths.py: where the node's paths are on the agent's side."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.node.paths import HOST_MOUNT, HostRoot, default_host_root


def test_the_node_itself_is_its_own_host_root() -> None:
    assert HostRoot(Path("/")).resolve("/etc/containers/registries.conf") == Path(
        "/etc/containers/registries.conf"
    )


def test_symlinks_on_the_node_stay_inside_the_host_root(tmp_path: Path) -> None:
    (tmp_path / "ostree").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/containers").symlink_to("/ostree")  # absolute on the node
    (tmp_path / "ostree/auth.json").symlink_to("../data/auth.json")
    resolved = HostRoot(tmp_path).resolve("/etc/containers/./auth.json")
    assert resolved == tmp_path / "data/auth.json"
    assert HostRoot(tmp_path).resolve("/../../etc/containers") == tmp_path / "ostree"


def test_a_symlink_loop_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("/b")
    (tmp_path / "b").symlink_to("/a")
    with pytest.raises(ConfigError, match="too many levels of symbolic links in /a/x"):
        HostRoot(tmp_path).resolve("/a/x")


@pytest.mark.parametrize(
    ("made", "expected_mount"),
    [("etc/containers", True), ("etc", False), ("", False)],
    ids=["node-mounted", "no-containers-config", "empty"],
)
def test_default_host_root_is_the_mount_only_when_it_holds_etc_containers(
    tmp_path: Path, made: str, expected_mount: bool
) -> None:
    mount = tmp_path / "host"
    (mount / made).mkdir(parents=True)
    assert default_host_root(mount) == (mount if expected_mount else Path("/"))


def test_default_host_root_looks_at_slash_host(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_is_dir(self: Path) -> bool:
        seen.append(str(self))
        return str(self) == "/host/etc/containers"

    monkeypatch.setattr(Path, "is_dir", fake_is_dir)
    assert Path("/host") == HOST_MOUNT
    assert default_host_root() == Path("/host")
    monkeypatch.setattr(Path, "is_dir", lambda self: False)
    assert default_host_root() == Path("/")
    assert seen == ["/host/etc/containers"]
