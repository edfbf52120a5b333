"""agent/node/settings.py: what the node's container runtime pulls with, read from its files."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Optional

import pytest

from agent.errors import CheckEnvironmentError
from agent.node.paths import AUTH_FILE, NODE_STORE, HostRoot
from agent.node.settings import NodeSettings, parse_proxy_env, read_graphroot, read_store_images
from agent.pull.log.redact import Redactor
from tests.support.hostroot import tree_listing


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A minimal node filesystem."""
    root = tmp_path / "host"
    (root / "var" / "lib" / "kubelet").mkdir(parents=True)
    (root / "etc" / "mco").mkdir(parents=True)
    return root


# ======================================================================================
# NodeSettings.detect


def test_detect_reads_auth_file_and_proxy(host_root: Path) -> None:
    (host_root / "var/lib/kubelet/config.json").write_text('{"auths": {}}')
    (host_root / "etc/mco/proxy.env").write_text(
        "HTTP_PROXY=http://proxy:3128\nHTTPS_PROXY=http://proxy:3128\nNO_PROXY=.cluster.local\n"
    )
    settings = NodeSettings.detect(host_root)
    assert settings.host_root == host_root
    assert settings.auth_file == AUTH_FILE == "/var/lib/kubelet/config.json"
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
    assert settings.auth_file == AUTH_FILE
    assert settings.proxy_env == {}


def test_detect_a_directory_is_not_an_auth_file(host_root: Path) -> None:
    (host_root / "var/lib/kubelet/config.json").mkdir()
    assert NodeSettings.detect(host_root).auth_file is None


def test_detect_an_unreadable_proxy_env_is_an_environment_error(host_root: Path) -> None:
    (host_root / "etc/mco/proxy.env").mkdir()  # a directory where the file should be
    with pytest.raises(CheckEnvironmentError, match="proxy settings"):
        NodeSettings.detect(host_root)


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


# ======================================================================================
# the node's image store


@pytest.mark.parametrize(
    ("storage_conf", "graphroot"),
    [
        (None, NODE_STORE),
        ('[storage]\ndriver = "overlay"\ngraphroot = "/var/lib/other"\n', "/var/lib/other"),
        ('[storage]\ndriver = "overlay"\n', NODE_STORE),
        ('[storage]\ngraphroot = "relative/store"\n', NODE_STORE),
        ("[storage]\ngraphroot = 3\n", NODE_STORE),
        ('storage = "not a table"\n', NODE_STORE),
    ],
    ids=["no-file", "graphroot", "no-graphroot", "relative", "not-a-string", "not-a-table"],
)
def test_read_graphroot(host_root: Path, storage_conf: Optional[str], graphroot: str) -> None:
    if storage_conf is not None:
        (host_root / "etc/containers").mkdir(parents=True)
        (host_root / "etc/containers/storage.conf").write_text(storage_conf)
    assert read_graphroot(HostRoot(host_root)) == graphroot


def test_an_unreadable_storage_conf_is_an_environment_error(host_root: Path) -> None:
    (host_root / "etc/containers").mkdir(parents=True)
    (host_root / "etc/containers/storage.conf").write_text("[storage\n")
    with pytest.raises(CheckEnvironmentError, match=r"storage\.conf"):
        read_graphroot(HostRoot(host_root))


@pytest.mark.parametrize("graphroot", [None, "/var/lib/other-store"])
def test_store_images_are_read_from_the_store_files_without_writing_anything(
    host_root: Path, graphroot: Optional[str]
) -> None:
    """--auto lists the node's images without podman: `podman images` would set up podman's
    runtime (its database, a network backend) inside CRI-O's store."""
    if graphroot:
        (host_root / "etc/containers").mkdir(parents=True, exist_ok=True)
        (host_root / "etc/containers/storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{graphroot}"\n'
        )
    store = host_root / (graphroot or NODE_STORE).lstrip("/")
    (store / "overlay-images").mkdir(parents=True)
    (store / "vfs-images").mkdir()
    (store / "overlay-images/images.json").write_text(json.dumps([{"id": "a", "names": ["x"]}]))
    (store / "vfs-images/images.json").write_text(json.dumps([{"id": "b"}, "junk"]))
    before = tree_listing(host_root)
    records = read_store_images(HostRoot(host_root))
    assert [record["id"] for record in records] == ["a", "b"]
    assert tree_listing(host_root) == before  # nothing written in the node's store


def test_an_unreadable_store_listing_is_an_environment_error(host_root: Path) -> None:
    listing = host_root / "var/lib/containers/storage/overlay-images/images.json"
    listing.parent.mkdir(parents=True)
    listing.write_text("[{")
    with pytest.raises(CheckEnvironmentError, match=r"images\.json"):
        read_store_images(HostRoot(host_root))


def test_a_node_without_a_store_has_no_images(host_root: Path) -> None:
    assert read_store_images(HostRoot(host_root)) == []


# ======================================================================================
# the node's own secrets, for redaction (issue 10 §4)


def test_the_pull_secret_and_proxy_credentials_are_redacted(host_root: Path) -> None:
    from agent.node.settings import decoded_auth

    auth = base64.b64encode(b"robot$ci:t0ps3cret-value").decode()
    (host_root / AUTH_FILE.lstrip("/")).write_text(
        json.dumps(
            {
                "auths": {
                    "quay.io": {"auth": auth},
                    "r.example": {"username": "svc-puller", "password": "pa55w0rd-2"},
                    "id.example": {"identitytoken": "idtoken-value-123"},
                    "broken": "not an object",
                }
            }
        )
    )
    (host_root / "etc/mco/proxy.env").write_text(
        "HTTPS_PROXY=http://proxy-user:pr%40xy-pass@proxy.example:3128\n"
    )
    settings = NodeSettings.detect(host_root)
    assert "t0ps3cret" not in repr(settings) and "pr%40xy" not in repr(settings)
    redact = Redactor.of(settings.secret_values())
    proxy_basic = base64.b64encode(b"proxy-user:pr@xy-pass").decode()
    text = (
        f"echo {auth} robot$ci:t0ps3cret-value svc-puller/pa55w0rd-2 idtoken-value-123 "
        f"proxy pr@xy-pass pr%40xy-pass {proxy_basic} proxy-user"
    )
    cleaned = redact(text)
    for secret in ("t0ps3cret", auth, "pa55w0rd-2", "svc-puller", "idtoken", "pr@xy", "pr%40xy"):
        assert secret not in cleaned, cleaned
    assert proxy_basic not in cleaned and "proxy-user" not in cleaned
    assert decoded_auth("%%%") == []


def test_an_unreadable_pull_secret_gives_no_secrets_and_no_error(host_root: Path) -> None:
    (host_root / AUTH_FILE.lstrip("/")).write_bytes(b"\xff not json")
    settings = NodeSettings.detect(host_root)
    assert settings.pull_secret_values == ()


def test_a_fifo_proxy_env_is_refused_at_once(host_root: Path) -> None:
    os.mkfifo(host_root / "etc/mco/proxy.env")
    with pytest.raises(CheckEnvironmentError, match="FIFO"):
        NodeSettings.detect(host_root)
