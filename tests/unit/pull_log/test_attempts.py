"""agent.pull.log.attempts: what became of each attempt, read through parse_pull_log.

An attempt with an ``Accessing … failed`` line failed. Without one, the last attempt of the
deciding round was served (rc 0, or the tool failed after resolution), hung (killed, or a
shutdown signal logged) or is unfinished; earlier ones are unfinished.
"""

from __future__ import annotations

import pytest

from agent.pull.log.model import Attempt
from tests.unit.pull_log.recorded import loc
from tests.unit.pull_log.synthetic import MIRROR, MIRROR2, QUAY, Log, case, logrus, seen

HUNG_AT = (Attempt(loc(5107, "mirror/hello"), "hung"),)
SERVED_BY_MIRROR = loc(5103, "mirror/hello")


@pytest.mark.parametrize(
    ("log", "want"),
    [
        case("killed at a mirror: hung", "mirror-hang.log", 124, killed=True, attempts=HUNG_AT),
        case("the shutdown line alone: hung", "mirror-hang.log", None, attempts=HUNG_AT),
        case(
            "killed before podman logged its shutdown: hung",
            "mirror-hang.log",
            None,
            killed=True,
            drop="shutdown",
            attempts=HUNG_AT,
        ),
        case(
            "neither: the log just stops",
            "mirror-hang.log",
            None,
            drop="shutdown",
            attempts=(Attempt(loc(5107, "mirror/hello"), "unfinished"),),
            served_by=None,
            shutdown=False,
        ),
        case(
            "a success log without exit status: unfinished",
            "first-mirror-down.log",
            None,
            outcomes=["failed", "unfinished"],
            served_by=None,
        ),
        case(
            "a success log with a failed exit status: unfinished",
            "first-mirror-down.log",
            125,
            outcomes=["failed", "unfinished"],
            served_by=None,
        ),
        case(
            "exited 0 just as the agent's timeout fired: served",
            "first-mirror-down.log",
            0,
            killed=True,
            served_by=SERVED_BY_MIRROR,
        ),
        case(
            "skopeo's tag listing failed after the manifest came: served without exit status",
            "skopeo-inspect-tags-source-down.log",
            None,
            served_by=SERVED_BY_MIRROR,
        ),
        case(
            "a round retried after the manifest was served",
            [
                logrus(f'Trying to access "{MIRROR}"'),
                logrus("GET https://mirror.example.com:5000/v2/team/app/blobs/sha256:bbb"),
                logrus(
                    "Failed, retrying in 1s ... (1/3). Error: writing blob: fetching blob: "
                    "connection reset by peer",
                    "warning",
                ),
                logrus(f'Trying to access "{MIRROR}"'),
                "Error: writing blob: storing blob to file: happened during read: unexpected EOF",
            ],
            125,
            earlier_rounds=((Attempt(MIRROR, "served"),),),
            # rc 125 but not a resolution failure: the mirror served the manifest
            attempts=(Attempt(MIRROR, "served"),),
            final_error_sources=(),
        ),
        case(
            "a dangling attempt with a resolution error: unfinished",
            [
                logrus(f'Trying to access "{MIRROR}"'),
                f"Error: initializing source docker://{QUAY}: (Mirrors also failed: "
                f"[{MIRROR}: x]): {QUAY}: y",
            ],
            125,
            attempts=(Attempt(MIRROR, "unfinished"),),
        ),
        case(
            "only the last attempt can be served",
            [
                logrus(f'Trying to access "{MIRROR}"'),  # its failure line was lost
                logrus(f'Trying to access "{MIRROR2}"'),
                logrus(f'Accessing "{MIRROR2}" failed: manifest unknown'),
                logrus(f'Trying to access "{QUAY}"'),
            ],
            0,
            outcomes=["unfinished", "failed", "served"],
        ),
    ],
)
def test_outcomes(log: Log, want: dict[str, object]) -> None:
    assert seen(log, want) == want
