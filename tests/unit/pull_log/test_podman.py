"""agent.pull.log.podman: the recorded fixtures, retry rounds, the final error's sources."""

from __future__ import annotations

import pytest

from tests.unit.pull_log.recorded import EXPECTED, check_expected, fixture_names, parse_fixture
from tests.unit.pull_log.synthetic import MIRROR, QUAY, Log, case, logrus, seen


def test_every_fixture_has_expectations() -> None:
    on_disk = set(fixture_names())
    assert on_disk, "no fixtures found"
    assert on_disk == set(EXPECTED), (
        f"fixtures without expectations: {sorted(on_disk - set(EXPECTED))}; "
        f"expectations without a fixture: {sorted(set(EXPECTED) - on_disk)}"
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    check_expected(parse_fixture(name), EXPECTED[name])


MIRRORS_ERROR = (
    f"initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: pinging "
    f'container registry mirror.example.com:5000: Get "https://mirror.example.com:5000/v2/": '
    f"dial tcp 10.0.0.5:5000: connect: connection refused]): {QUAY}: pinging container "
    f'registry quay.io: Get "https://quay.io/v2/": dial tcp 1.2.3.4:443: i/o timeout'
)
ONE_ROUND = [
    logrus(f'Trying to access "{MIRROR}"'),
    logrus(f'Accessing "{MIRROR}" failed: pinging container registry x: connection refused'),
    logrus(f'Trying to access "{QUAY}"'),
    logrus(f'Accessing "{QUAY}" failed: dial tcp 1.2.3.4:443: i/o timeout'),
]
RETRIED_WITH_JITTER = [  # podman ≥5.6 logs the delay with its jitter
    logrus("podman filtering at log level debug", "info"),
    *ONE_ROUND,
    logrus(f"Failed, retrying in 2s ... (1/2). Error: {MIRRORS_ERROR}", "warning"),
    logrus("Retry delay with added jitter: 2.179s"),
    *ONE_ROUND,
    logrus(f"Failed, retrying in 2s ... (2/2). Error: {MIRRORS_ERROR}", "warning"),
    logrus("Retry delay with added jitter: 2.179s"),
    *ONE_ROUND[:3],  # the last round: the source serves
]

# registries.conf rewrote quay.io/team → internal (location != prefix, no mirrors): the
# error comes back unchanged under the logical reference.
LOGICAL = "quay.io/team/app:v1"
PHYSICAL = "internal.example.com/team/app:v1"
EOF_ERROR = 'pinging container registry internal.example.com: Get "https://x/v2/": EOF'
SECRET = "pinging container registry q: proxyconnect tcp: dial tcp: {}: EOF token={}"
REDACTED_ERROR = SECRET.format("http://bob:REDACTED@proxy.example.com:3128", "REDACTED")


@pytest.mark.parametrize(
    ("log", "want"),
    [
        case(
            "retry rounds: only the last decides",
            RETRIED_WITH_JITTER,
            0,
            rounds=3,
            earlier_tried=[[(MIRROR, "failed", "connection-refused"), (QUAY, "failed", "timeout")]]
            * 2,
            tried=[(MIRROR, "failed", "connection-refused"), (QUAY, "served", None)],
            served_by=QUAY,
        ),
        case(
            "a single source's error names the physical source",
            [
                logrus(f'Trying to access "{PHYSICAL}"'),
                logrus(f'Accessing "{PHYSICAL}" failed: {EOF_ERROR}'),
                f"Error: initializing source docker://{LOGICAL}: {EOF_ERROR}",
            ],
            125,
            final_error_sources=((PHYSICAL, EOF_ERROR),),
        ),
        case(
            "messages and the final error are redacted",
            [
                logrus(f'Trying to access "{QUAY}"'),
                logrus(
                    f'Accessing "{QUAY}" failed: '
                    + SECRET.format("http://bob:hunter2@proxy.example.com:3128", "abc")
                ),
                f"Error: initializing source docker://{QUAY}: "
                + SECRET.format("http://bob:hunter2@proxy.example.com:3128", "abc"),
            ],
            125,
            messages=[REDACTED_ERROR],
            final_error=f"Error: initializing source docker://{QUAY}: {REDACTED_ERROR}",
            final_error_sources=((QUAY, REDACTED_ERROR),),
        ),
    ],
)
def test_pull_log(log: Log, want: dict[str, object]) -> None:
    assert seen(log, want) == want
