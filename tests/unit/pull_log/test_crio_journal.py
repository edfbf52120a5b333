"""agent.pull.log.crio_journal: a CRI-O journal grouped into pulls, concurrent ones told apart."""

from __future__ import annotations

from typing import Optional

import pytest

from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.podman import parse_pull_log
from tests.unit.pull_log.recorded import loc
from tests.unit.pull_log.synthetic import Source, crio, log_text

DIGEST = "sha256:" + "c" * 64
REL = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + DIGEST
REL_MIRROR1 = "mirror1.example.com:5000/ocp/release@" + DIGEST
REL_MIRROR2 = "mirror2.example.com/ocp/release@" + DIGEST
APP = "registry.example.com/team/app:v2"
APP_MIRROR = "mirror1.example.com:5000/team/app:v2"
APP_PULLED = "registry.example.com/team/app@sha256:" + "d" * 64
# Concurrent pulls of different repositories with the same tag or digest (kubelet pulls in
# parallel): CRI-O's `Trying to access` lines carry no request id, the repository tells.
UBI = "registry.redhat.io/ubi9/ubi:latest"
UBI_MIRROR = "mirror.corp.example.com/rh/ubi9/ubi:latest"  # registry-scope mirror
UBI_PULLED = "registry.redhat.io/ubi9/ubi@sha256:" + "1" * 64
BAR = "quay.io/foo/bar:latest"
BAR_MIRROR = "mirror.corp.example.com/quay/foo/bar:latest"
BAR_MIRROR2 = "backup.corp.example.com/foo/bar:latest"
BAR_PULLED = "quay.io/foo/bar@sha256:" + "2" * 64
# The same image pushed to two repositories, pulled by digest at the same time.
TEAM_APP = "quay.io/team/app@" + DIGEST
TEAM_APP_MIRROR = "mirror1.example.com:5000/team/app@" + DIGEST
TOOL = "registry.example.com/tools/tool@" + DIGEST
TOOL_MIRROR = "mirror1.example.com:5000/tools/tool@" + DIGEST
TOOL_MIRROR2 = "mirror2.example.com/tools/tool@" + DIGEST
# Two sources mirrored into one repository.
ONE = "quay.io/a/x@" + DIGEST
TWO = "quay.io/b/x@" + DIGEST
SHARED = "mirror.example.com/x@" + DIGEST

PULL_RPC = " id=5e0b4d2c-1b4e-4e43-9a33-3c1f0e8c2b11 name=/runtime.v1.ImageService/PullImage"
STATUS_RPC = " id=0f2b1c9e-3d4d-4b8e-8f0e-2a6c4b1d7e22 name=/runtime.v1.ImageService/ImageStatus"


def pulling(stamp: str, image: str) -> str:
    return crio(stamp, f"Pulling image: {image}", extra=PULL_RPC)


def pulled(stamp: str, image: str) -> str:
    return crio(stamp, f"Pulled image: {image}", extra=PULL_RPC)


def trying(stamp: str, location: str) -> str:
    return crio(stamp, f'Trying to access "{location}"')


def failed(stamp: str, location: str, error: str) -> str:
    return crio(stamp, f'Accessing "{location}" failed: {error}', "debug")


CONCURRENT_SAME_TAG = [
    pulling("10:00:00", UBI),
    pulling("10:00:00", BAR),
    trying("10:00:00", UBI_MIRROR),
    trying("10:00:00", BAR_MIRROR),
    failed(
        "10:00:00",
        BAR_MIRROR,
        "reading manifest latest in mirror.corp.example.com/quay/foo/bar: manifest unknown",
    ),
    trying("10:00:01", BAR_MIRROR2),
    failed(
        "10:00:30", UBI_MIRROR, "pinging container registry mirror.corp.example.com: i/o timeout"
    ),
    trying("10:00:30", UBI),
    pulled("10:00:31", BAR_PULLED),
    pulled("10:00:35", UBI_PULLED),
]
# The same at info level (no failure lines), the other way round.
CONCURRENT_SAME_TAG_INFO = [line for line in CONCURRENT_SAME_TAG if "level=debug" not in line]
CONCURRENT_SAME_TAG_INFO[0:2] = CONCURRENT_SAME_TAG_INFO[1::-1]

# `journalctl -u crio | grep 'Trying to access'`: a failing pull retried by the kubelet, ...
GREP_RETRIED = [
    trying("10:00:00", REL_MIRROR1),
    trying("10:00:30", REL),
    trying("10:01:00", REL_MIRROR1),
    trying("10:01:30", REL),
]

JOURNALS: dict[str, Source] = {
    "pulling lines": [
        crio("10:00:00", f"Checking image status: {REL}", extra=STATUS_RPC),
        crio("10:00:00", f"Image {REL} not found", extra=STATUS_RPC),
        pulling("10:00:01", REL),
        trying("10:00:01", REL_MIRROR1),
        trying("10:00:31", REL_MIRROR2),
        pulled("10:00:35", REL),
        crio("10:00:36", "Created container 1a2b3c: openshift-etcd/etcd-node-1/etcd"),
        crio("10:05:00", f"Checking image status: {APP}", extra=STATUS_RPC),
        pulling("10:05:00", APP),
        trying("10:05:00", APP_MIRROR),
        pulled("10:05:02", APP_PULLED),
    ],
    "debug level: failures": [
        pulling("10:00:01", REL),
        trying("10:00:01", REL_MIRROR1),
        crio("10:00:01", "GET https://mirror1.example.com:5000/v2/", "debug"),
        failed(
            "10:00:31",
            REL_MIRROR1,
            "pinging container registry mirror1.example.com:5000: Get "
            '"https://mirror1.example.com:5000/v2/": dial tcp 10.1.2.3:5000: i/o timeout',
        ),
        trying("10:00:31", REL_MIRROR2),
        failed(
            "10:00:31",
            REL_MIRROR2,
            f"reading manifest {DIGEST} in mirror2.example.com/ocp/release: manifest unknown",
        ),
        trying("10:00:32", REL),
        pulled("10:00:40", REL),
    ],
    "grep output: one image retried": GREP_RETRIED,
    "grep output: then another image": [*GREP_RETRIED, trying("10:02:00", APP_MIRROR)],
    "a failed pull, then the kubelet's retry": [
        pulling("10:00:00", REL),
        trying("10:00:00", REL_MIRROR1),
        trying("10:00:30", REL),
        pulling("10:00:40", REL),  # back-off retry
        trying("10:00:40", REL_MIRROR1),
        pulled("10:00:41", REL),
    ],
    "interleaved pulls of different images": [
        pulling("10:00:00", REL),
        pulling("10:00:00", APP),
        trying("10:00:00", APP_MIRROR),
        trying("10:00:00", REL_MIRROR1),
        pulled("10:00:02", APP_PULLED),
        trying("10:00:30", REL_MIRROR2),
        pulled("10:00:35", REL),
    ],
    "concurrent: same tag, different repositories": CONCURRENT_SAME_TAG,
    "concurrent: same tag, info level": CONCURRENT_SAME_TAG_INFO,
    "concurrent: same digest, different repositories": [
        pulling("10:00:00", TEAM_APP),
        pulling("10:00:00", TOOL),
        trying("10:00:00", TOOL_MIRROR),
        trying("10:00:00", TEAM_APP_MIRROR),
        failed(
            "10:00:00",
            TOOL_MIRROR,
            f"reading manifest {DIGEST} in mirror1.example.com:5000/tools/tool: manifest unknown",
        ),
        trying("10:00:01", TOOL_MIRROR2),
        pulled("10:00:02", TEAM_APP),
        failed(
            "10:00:03",
            TOOL_MIRROR2,
            f"reading manifest {DIGEST} in mirror2.example.com/tools/tool: unauthorized: "
            "authentication required",
        ),
        trying("10:00:03", TOOL),
        pulled("10:00:04", TOOL),
    ],
    # the locations are the same: each pull gets one attempt there (the one that has not
    # tried it yet), then its own source
    "concurrent: through one mirror repository": [
        pulling("10:00:00", ONE),
        pulling("10:00:00", TWO),
        trying("10:00:00", SHARED),
        trying("10:00:00", SHARED),
        trying("10:00:01", TWO),
        trying("10:00:01", ONE),
    ],
    # no `Pulling image` lines: a tag attempt continues a pull only when it shares a
    # repository component with it
    "grep output: same tag, different repositories": [
        trying("10:00:00", UBI_MIRROR),
        trying("10:00:00", BAR_MIRROR),
        trying("10:00:01", BAR_MIRROR2),
        trying("10:00:30", UBI),
        trying("10:01:00", UBI_MIRROR),  # a later pull: new
    ],
    "image from `Checking image status`, no `Pulling image`": [
        crio("10:00:00", f"Checking image status: {APP}", extra=STATUS_RPC),
        trying("10:00:00", APP_MIRROR),
        crio("10:00:01", f"Pulled image: {APP_PULLED}"),
    ],
    "-o short-iso, and -o cat (no prefix: the logrus time is used)": [
        '2024-11-25T10:00:00+0000 node-1 crio[2048]: time="2024-11-25 10:00:00.1Z" '
        f'level=info msg="Trying to access \\"{APP_MIRROR}\\""',
        f'time="2024-11-25 10:00:05.1Z" level=info msg="Pulling image: {REL}"',
    ],
    "logrus JSON formatter": [
        '{"level":"info","msg":"Trying to access \\"' + APP_MIRROR + '\\"",'
        '"time":"2024-11-25T10:00:00Z"}'
    ],
    "mixed with other units and noise": [
        "Nov 25 10:00:00 node-1 kubenswrapper[1500]: I1125 10:00:00.1 1500 event.go:307] "
        '"Pulling image \\"quay.io/x:v1\\""',
        "-- Boot 1a2b3c --",
        pulling("10:00:01", APP),
        trying("10:00:01", APP_MIRROR),
        "Nov 25 10:00:01 node-1 systemd[1]: Started crio-conmon-abc.scope.",
        pulled("10:00:02", APP_PULLED),
    ],
    # any log is accepted: a podman log is one pull without `Pulled image`
    "a podman log": "first-mirror-down.log",
}

U, S = "unfinished", "served"
# (image, [(location, outcome, reason)], pulled, time) per pull, in order
Pull = tuple[str, list[tuple[str, str, Optional[str]]], Optional[str], Optional[str]]
RETRIED_REL = [(REL_MIRROR1, U, None), (REL, U, None)]
PULLS: dict[str, list[Pull]] = {
    "pulling lines": [
        (REL, [(REL_MIRROR1, U, None), (REL_MIRROR2, S, None)], REL, "Nov 25 10:00:01"),
        (APP, [(APP_MIRROR, S, None)], APP_PULLED, "Nov 25 10:05:00"),
    ],
    "debug level: failures": [
        (
            REL,
            [
                (REL_MIRROR1, "failed", "timeout"),
                (REL_MIRROR2, "failed", "manifest-unknown"),
                (REL, S, None),
            ],
            REL,
            "Nov 25 10:00:01",
        )
    ],
    "grep output: one image retried": [
        (REL_MIRROR1, RETRIED_REL, None, "Nov 25 10:00:00"),
        (REL_MIRROR1, RETRIED_REL, None, "Nov 25 10:01:00"),
    ],
    "grep output: then another image": [
        (REL_MIRROR1, RETRIED_REL, None, "Nov 25 10:00:00"),
        (REL_MIRROR1, RETRIED_REL, None, "Nov 25 10:01:00"),
        (APP_MIRROR, [(APP_MIRROR, U, None)], None, "Nov 25 10:02:00"),
    ],
    "a failed pull, then the kubelet's retry": [
        (REL, RETRIED_REL, None, "Nov 25 10:00:00"),
        (REL, [(REL_MIRROR1, S, None)], REL, "Nov 25 10:00:40"),
    ],
    "interleaved pulls of different images": [
        (REL, [(REL_MIRROR1, U, None), (REL_MIRROR2, S, None)], REL, "Nov 25 10:00:00"),
        (APP, [(APP_MIRROR, S, None)], APP_PULLED, "Nov 25 10:00:00"),
    ],
    "concurrent: same tag, different repositories": [
        (UBI, [(UBI_MIRROR, "failed", "timeout"), (UBI, S, None)], UBI_PULLED, "Nov 25 10:00:00"),
        (
            BAR,
            [(BAR_MIRROR, "failed", "manifest-unknown"), (BAR_MIRROR2, S, None)],
            BAR_PULLED,
            "Nov 25 10:00:00",
        ),
    ],
    "concurrent: same tag, info level": [
        (BAR, [(BAR_MIRROR, U, None), (BAR_MIRROR2, S, None)], BAR_PULLED, "Nov 25 10:00:00"),
        (UBI, [(UBI_MIRROR, U, None), (UBI, S, None)], UBI_PULLED, "Nov 25 10:00:00"),
    ],
    "concurrent: same digest, different repositories": [
        (TEAM_APP, [(TEAM_APP_MIRROR, S, None)], TEAM_APP, "Nov 25 10:00:00"),
        (
            TOOL,
            [
                (TOOL_MIRROR, "failed", "manifest-unknown"),
                (TOOL_MIRROR2, "failed", "unauthorized"),
                (TOOL, S, None),
            ],
            TOOL,
            "Nov 25 10:00:00",
        ),
    ],
    "concurrent: through one mirror repository": [
        (ONE, [(SHARED, U, None), (ONE, U, None)], None, "Nov 25 10:00:00"),
        (TWO, [(SHARED, U, None), (TWO, U, None)], None, "Nov 25 10:00:00"),
    ],
    "grep output: same tag, different repositories": [
        (UBI_MIRROR, [(UBI_MIRROR, U, None), (UBI, U, None)], None, "Nov 25 10:00:00"),
        (BAR_MIRROR, [(BAR_MIRROR, U, None), (BAR_MIRROR2, U, None)], None, "Nov 25 10:00:00"),
        (UBI_MIRROR, [(UBI_MIRROR, U, None)], None, "Nov 25 10:01:00"),
    ],
    "image from `Checking image status`, no `Pulling image`": [
        (APP, [(APP_MIRROR, S, None)], APP_PULLED, "Nov 25 10:00:00"),
    ],
    "-o short-iso, and -o cat (no prefix: the logrus time is used)": [
        (APP_MIRROR, [(APP_MIRROR, U, None)], None, "2024-11-25T10:00:00+0000"),
        (REL, [], None, "2024-11-25 10:00:05.1Z"),
    ],
    "logrus JSON formatter": [
        (APP_MIRROR, [(APP_MIRROR, U, None)], None, "2024-11-25T10:00:00Z"),
    ],
    "mixed with other units and noise": [
        (APP, [(APP_MIRROR, S, None)], APP_PULLED, "Nov 25 10:00:01"),
    ],
    "a podman log": [
        (
            loc(5109, "mirror/hello"),
            [
                (loc(5109, "mirror/hello"), "failed", "connection-refused"),
                (loc(5103, "mirror/hello"), U, None),
            ],
            None,
            "2026-11-25T20:26:46Z",
        )
    ],
}


def test_every_journal_has_its_pulls() -> None:
    assert set(PULLS) == set(JOURNALS)


@pytest.mark.parametrize("journal", list(JOURNALS))
def test_pulls(journal: str) -> None:
    pulls = parse_crio_journal(log_text(JOURNALS[journal]))
    assert [
        (
            pull.image,
            [(a.location, a.outcome, a.reason) for a in pull.attempts],
            pull.pulled,
            pull.time,
        )
        for pull in pulls
    ] == PULLS[journal]
    for attempt in (attempt for pull in pulls for attempt in pull.attempts):
        assert (attempt.message is None) == (attempt.outcome != "failed")


@pytest.mark.parametrize(
    ("journal", "rounds", "served_by"),
    [
        ("debug level: failures", 1, REL),
        ("grep output: one image retried", 2, None),
        ("a failed pull, then the kubelet's retry", 2, REL_MIRROR1),
        # the other image is not an earlier round
        ("concurrent: same digest, different repositories", 1, TOOL),
    ],
)
def test_a_journal_as_one_pull_log(journal: str, rounds: int, served_by: Optional[str]) -> None:
    # The last pull decides; earlier pulls of the same image are its earlier rounds.
    text = log_text(JOURNALS[journal])
    *earlier, last = parse_crio_journal(text)
    result = parse_pull_log(text, exit_code=None)
    assert (result.tool, result.final_error) == ("crio", None)
    assert result.attempts == last.attempts
    assert result.earlier_rounds == tuple(
        pull.attempts for pull in earlier if pull.image == last.image
    )
    assert (result.rounds, result.served_by) == (rounds, served_by)
