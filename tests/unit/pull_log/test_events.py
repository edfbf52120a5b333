"""agent.pull.log.events: which lines are events, which tool wrote the log, its final error."""

from __future__ import annotations

import pytest

from tests.unit.pull_log.synthetic import MIRROR, MIRROR2, QUAY, Log, case, logrus, seen

LOOK_ALIKES = [
    logrus("podman filtering at log level debug", "info"),
    logrus(f"Pulling image {QUAY} (policy: always)"),
    logrus(f'Trying "{QUAY}" ...'),
    logrus(f'Found image "{QUAY}" as "{QUAY}" in local containers storage'),
    logrus(f"Attempting to pull candidate {QUAY} for {QUAY}"),
    f"Trying to pull {QUAY}...",
    logrus(f'Trying to access "{MIRROR}"'),
    logrus("GET https://mirror.example.com:5000/v2/"),
    logrus("Ping https://mirror.example.com:5000/v2/ status 401"),
    logrus("GET https://mirror.example.com:5000/v2/team/app/manifests/sha256:aaa"),
    logrus('Content-Type from manifest GET is "application/json; charset=utf-8"'),
    logrus(f'Accessing "{MIRROR}" failed: reading manifest x in y: manifest unknown'),
    logrus(f'Trying to access "{QUAY}"'),
    logrus("Ping https://quay.io/v2/ status 401"),
    logrus('Content-Type from manifest GET is "application/vnd.oci.image.manifest.v1+json"'),
    logrus(f"Error pulling candidate {QUAY}: initializing source docker://{QUAY}: x"),
    # a message that mentions the phrase without being one
    logrus(f'Looked at "Trying to access \\"{MIRROR2}\\"" in a doc'),
    logrus(f'Accessing "{MIRROR2}" failed: orphan failure line, no attempt'),
    "Writing manifest to image destination",
    "b" * 64,
]
ERROR_BLOCK = [
    f"Error: initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: manifest "
    "unknown",
    f"second line]): {QUAY}: manifest unknown",
]
CONFIG = 'Loading registries configuration "{}"'


@pytest.mark.parametrize(
    ("log", "want"),
    [
        case(
            "look-alike lines are not attempts",
            LOOK_ALIKES,
            0,
            tool="podman",
            tried=[(MIRROR, "failed", "manifest-unknown"), (QUAY, "served", None)],
            served_by=QUAY,
            final_error=None,
            final_error_sources=(),
        ),
        case(
            "the final error's continuation stops at the next logrus line",
            [
                logrus(f'Trying to access "{MIRROR}"'),
                logrus(f'Accessing "{MIRROR}" failed: manifest unknown'),
                logrus(f'Trying to access "{QUAY}"'),
                logrus(f'Accessing "{QUAY}" failed: manifest unknown'),
                *ERROR_BLOCK,
                logrus("Shutting down engines"),
                "",
            ],
            125,
            final_error="\n".join(ERROR_BLOCK),
            final_error_sources=(
                (MIRROR, "manifest unknown\nsecond line"),
                (QUAY, "manifest unknown"),
            ),
        ),
        case(
            "config files: unique, in first-seen order; c/image lines without podman's: skopeo",
            [
                logrus(CONFIG.format("/etc/containers/registries.conf")),
                logrus(CONFIG.format("/etc/containers/registries.conf.d/99.conf")),
                logrus("Failed, retrying in 1s ... (1/3). Error: x", "warning"),
                logrus(CONFIG.format("/etc/containers/registries.conf")),
                logrus(CONFIG.format("/root/.config/containers/registries.conf.d/a")),
            ],
            None,
            config_files=(
                "/etc/containers/registries.conf",
                "/etc/containers/registries.conf.d/99.conf",
                "/root/.config/containers/registries.conf.d/a",
            ),
            tool="skopeo",
        ),
    ],
)
def test_events(log: Log, want: dict[str, object]) -> None:
    assert seen(log, want) == want


@pytest.mark.parametrize(
    ("lines", "tool"),
    [
        ([""], "unknown"),
        (["hello", "world", ""], "unknown"),
        ([logrus("podman filtering at log level debug", "info")], "podman"),
        ([logrus("Called pull.PersistentPreRunE(podman pull x)")], "podman"),
        (["Trying to pull quay.io/x:v1...", "Error: something"], "podman"),
        ([logrus('Trying to access "a/b:c"')], "skopeo"),
        ([logrus("Error parsing image name", "fatal")], "skopeo"),
        (["Nov 25 10:00:00 n crio[1]: " + logrus('Trying to access "a/b:c"', "info")], "crio"),
        ([logrus("Pulling image: quay.io/x:v1", "info")], "crio"),
    ],
)
def test_tool_detection(lines: list[str], tool: str) -> None:
    assert Log(lines, exit_code=None).parsed().tool == tool
