"""agent/pull/commands.py: the command lines run on the node, and their environment."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from agent.errors import UsageError
from agent.node.paths import NODE_PATH
from agent.pull.commands import (
    PODMAN_VERSION_ARGV,
    check_storage_driver,
    crio_journal_argv,
    node_env,
    on_node,
    podman_pull_argv,
    skopeo_inspect_argv,
)
from agent.reference import ImageReference, ReferenceError, parse_normalized

REF = "quay.io/team/app@sha256:" + "a" * 64
IMAGE = parse_normalized(REF)
AUTH = "/var/lib/kubelet/config.json"
SCRATCH = "/var/tmp/mirror-agent-x1"
PRIVATE_STATE = (
    *("--root", f"{SCRATCH}/root", "--runroot", f"{SCRATCH}/run"),
    # podman's other state stays in the scratch folder: never the node's /run/libpod
    *("--tmpdir", f"{SCRATCH}/libpod", "--events-backend", "none"),
    *("--network-config-dir", f"{SCRATCH}/networks"),
)


@pytest.mark.parametrize(
    ("chroot", "expected"),
    [(None, ("podman", "x")), ("/host", ("chroot", "/host", "podman", "x"))],
)
def test_on_node_chroots_only_into_another_root(
    chroot: Optional[str], expected: tuple[str, ...]
) -> None:
    assert on_node(["podman", "x"], chroot) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"scratch": SCRATCH, "auth_file": AUTH},
            ("podman", *PRIVATE_STATE, "pull", "--log-level=debug", "--authfile", AUTH, "--", REF),
        ),
        ({"scratch": SCRATCH}, ("podman", *PRIVATE_STATE, "pull", "--log-level=debug", "--", REF)),
        (
            {"scratch": SCRATCH, "storage_driver": "vfs"},
            (
                "podman",
                *PRIVATE_STATE[:4],
                "--storage-driver",
                "vfs",
                *PRIVATE_STATE[4:],
                "pull",
                "--log-level=debug",
                "--",
                REF,
            ),
        ),
        ({"scratch": None}, ("podman", "pull", "--log-level=debug", "--", REF)),
        (
            {"scratch": None, "auth_file": AUTH},
            ("podman", "pull", "--log-level=debug", "--authfile", AUTH, "--", REF),
        ),
    ],
    ids=["scratch-auth", "scratch", "scratch-driver", "node-store", "node-store-auth"],
)
def test_podman_pull_argv(options: dict[str, Any], expected: tuple[str, ...]) -> None:
    argv = podman_pull_argv(IMAGE, **options)
    assert argv == expected
    assert "--tls-verify=false" not in argv


@pytest.mark.parametrize(
    ("release", "retry"),
    [("4.3.1", False), ("5.2.0", True), ("5.4.0-dev", True), ("next", False), (None, False)],
)
def test_podman_5_is_told_not_to_retry_the_whole_list(release: Optional[str], retry: bool) -> None:
    """CRI-O walks the sources once: podman 5's three retries (4.x has no option) would
    turn 'every source failed' into a timeout."""
    argv = podman_pull_argv(IMAGE, scratch=None, podman_release=release, auth_file=AUTH)
    assert ("--retry" in argv) == retry
    if retry:
        assert argv[argv.index("--retry") + 1] == "0"
        assert argv.index("--retry") < argv.index("--")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"auth_file": AUTH},
            ("skopeo", "--debug", "inspect", "--raw", "--authfile", AUTH, f"docker://{REF}"),
        ),
        ({}, ("skopeo", "--debug", "inspect", "--raw", f"docker://{REF}")),
        (
            {"registries_conf": "/var/tmp/probe.conf"},
            (
                "skopeo",
                "--debug",
                "--registries-conf",
                "/var/tmp/probe.conf",
                "inspect",
                "--raw",
                f"docker://{REF}",
            ),
        ),
    ],
    ids=["auth", "plain", "registries-conf"],
)
def test_skopeo_inspect_argv(options: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert skopeo_inspect_argv(IMAGE, **options) == expected


def test_a_relative_registries_conf_is_refused() -> None:
    with pytest.raises(UsageError, match="absolute node path"):
        skopeo_inspect_argv(IMAGE, registries_conf="probe.conf")


@pytest.mark.parametrize("since", ["-24h", "2024-05-01 10:00:00"])
def test_crio_journal_argv(since: str) -> None:
    argv = ("journalctl", "-u", "crio", "--since", since, "--no-pager", "-o", "short-iso")
    assert crio_journal_argv(since) == argv


@pytest.mark.parametrize("since", ["", "-1h\n--output=json", "\x1b"])
def test_a_journal_time_that_is_not_one_is_refused(since: str) -> None:
    with pytest.raises(UsageError, match="journalctl time"):
        crio_journal_argv(since)


def test_podman_version_only_reads_configuration() -> None:
    assert PODMAN_VERSION_ARGV == ("podman", "--version")


@pytest.mark.parametrize("reference", ["--root=/", "-x", "", "quay.io/a b:1", "quay.io/a\n:1"])
def test_a_reference_that_could_be_an_option_never_becomes_an_image(reference: str) -> None:
    # The commands take an ImageReference, parsed where the image entered the agent: text
    # that podman or skopeo could read as an option is refused there, never reaches an argv.
    with pytest.raises(ReferenceError, match="invalid image reference"):
        parse_normalized(reference)
    with pytest.raises(ReferenceError):
        ImageReference("-x", "a")  # nor can one be built field by field
    with pytest.raises(ReferenceError):
        ImageReference("quay.io", "a", tag="--root=/")


@pytest.mark.parametrize(
    ("name", "valid"),
    [("vfs", True), ("overlay", True), ("my_driver-2", True), ("overlay --root /", False)],
)
def test_storage_driver_names(name: str, valid: bool) -> None:
    if valid:
        check_storage_driver(name)
    else:
        with pytest.raises(UsageError, match="storage driver"):
            check_storage_driver(name)


@pytest.mark.parametrize(
    ("proxy", "extra", "expected"),
    [
        ({}, None, {}),
        (
            {"HTTPS_PROXY": "http://proxy.example.com:3128", "no_proxy": ".cluster.local"},
            None,
            {"HTTPS_PROXY": "http://proxy.example.com:3128", "no_proxy": ".cluster.local"},
        ),
        (
            {"HTTP_PROXY": "http://p:1"},
            {"TMPDIR": "/t"},
            {"HTTP_PROXY": "http://p:1", "TMPDIR": "/t"},
        ),
    ],
)
def test_node_env_holds_the_node_path_the_proxy_and_nothing_from_the_agent(
    proxy: dict[str, str],
    extra: Optional[dict[str, str]],
    expected: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", "/agent/registries.conf")
    monkeypatch.setenv("HTTPS_PROXY", "http://agent-proxy:3128")
    assert node_env(proxy, extra) == {"PATH": NODE_PATH, "LANG": "C", "HOME": "/root", **expected}
