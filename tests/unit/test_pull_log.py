"""Tests for agent.pull.log: reading podman/skopeo debug pull logs and CRI-O journals.

The fixture expectations below are written out by hand from the table in
../shared/fixtures/README.md ("What a parser should conclude"); they are not derived from
the parser's output.
"""

from __future__ import annotations

import ast
import dataclasses
import random
import re
from pathlib import Path
from typing import Optional

import pytest

from agent.pull.log.classify import classify_failure
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.error_sources import parse_error_sources
from agent.pull.log.model import REASONS, Attempt, JournalPull, PullLog
from agent.pull.log.podman import parse_pull_log
from agent.pull.log.redact import redact
from tests.shared import FIXTURES, require

PODMAN_43 = FIXTURES / "podman-4.3"
D = "sha256:6d9d24274a885ae757f53f7950337d94ebd4b3dfce1a3ba48b218624fa5e72aa"
CONFIG_FILES = (
    "/etc/containers/registries.conf",
    "/etc/containers/registries.conf.d/shortnames.conf",
)


def loc(port: int, path: str, ref: str = "@" + D) -> str:
    """``127.0.0.1:PORT/PATH@D`` (or ``:tag``): a physical source as the fixtures name it."""
    return f"127.0.0.1:{port}/{path}{ref}"


def read_fixture(name: str) -> str:
    return require(PODMAN_43 / name).read_text()


# --------------------------------------------------------------------------------------
# the fixtures table

# (location, outcome, reason, a fragment of the failure message or None)
Row = tuple[str, str, Optional[str], Optional[str]]


@dataclasses.dataclass(frozen=True)
class Expected:
    rc: int
    attempts: tuple[Row, ...]
    served_by: Optional[str]
    tool: str = "podman"
    rounds: int = 1
    shutdown: bool = False
    killed: bool = False
    final_error: Optional[str] = None  # a fragment of it; None: no final error
    error_lines: Optional[int] = None
    sources: tuple[str, ...] = ()  # refs of final_error_sources, primary last


REFUSED = ("failed", "connection-refused", "connect: connection refused")
UNKNOWN = ("failed", "manifest-unknown", "manifest unknown: manifest unknown")
UNAUTHORIZED = ("failed", "unauthorized", "unauthorized: authentication required")
BLOCKED = ("failed", "blocked", "is blocked in /etc/containers/registries.conf")
SERVED = ("served", None, None)


def row(location: str, result: tuple[str, Optional[str], Optional[str]]) -> Row:
    return (location, *result)


EXPECTED: dict[str, Expected] = {
    "first-mirror-down.log": Expected(
        rc=0,
        attempts=(row(loc(5109, "mirror/hello"), REFUSED), row(loc(5103, "mirror/hello"), SERVED)),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-missing-digest.log": Expected(
        rc=0,
        attempts=(row(loc(5102, "mirror/hello"), UNKNOWN), row(loc(5103, "mirror/hello"), SERVED)),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirrors-fail-source-serves.log": Expected(
        rc=0,
        attempts=(
            row(loc(5109, "mirror/hello"), REFUSED),
            row(loc(5102, "mirror/hello"), UNKNOWN),
            row(loc(5101, "src/hello"), SERVED),
        ),
        served_by=loc(5101, "src/hello"),
    ),
    "all-fail.log": Expected(
        rc=125,
        attempts=(
            row(loc(5109, "mirror/gone"), REFUSED),
            row(loc(5104, "mirror/gone"), UNAUTHORIZED),
            row(loc(5102, "mirror/gone"), UNKNOWN),
            row(loc(5101, "src/gone"), UNKNOWN),
        ),
        served_by=None,
        final_error="Error: initializing source docker://127.0.0.1:5101/src/gone@",
        error_lines=3,
        sources=(
            loc(5109, "mirror/gone"),
            loc(5104, "mirror/gone"),
            loc(5102, "mirror/gone"),
            loc(5101, "src/gone"),
        ),
    ),
    "all-fail-source-unreachable.log": Expected(
        rc=125,
        attempts=(
            row(loc(5109, "mirror/hello"), REFUSED),
            row(loc(5102, "mirror/hello"), UNKNOWN),
            row(loc(5108, "src/hello"), REFUSED),
        ),
        served_by=None,
        rounds=4,
        final_error="(Mirrors also failed: [127.0.0.1:5109/mirror/hello@",
        error_lines=2,
        sources=(loc(5109, "mirror/hello"), loc(5102, "mirror/hello"), loc(5108, "src/hello")),
    ),
    "tag-digest-only-mirror-skipped.log": Expected(
        rc=0,
        attempts=(row(loc(5101, "src/hello", ":v1"), SERVED),),
        served_by=loc(5101, "src/hello", ":v1"),
    ),
    "tag-digest-only-source-down.log": Expected(
        rc=125,
        attempts=(row(loc(5108, "src/hello", ":v1"), REFUSED),),
        served_by=None,
        rounds=4,
        final_error="Error: initializing source docker://127.0.0.1:5108/src/hello:v1: pinging",
        error_lines=1,
        sources=(loc(5108, "src/hello", ":v1"),),
    ),
    "mirror-401.log": Expected(
        rc=0,
        attempts=(
            row(loc(5104, "mirror/hello"), UNAUTHORIZED),
            row(loc(5103, "mirror/hello"), SERVED),
        ),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-403.log": Expected(
        rc=0,
        attempts=(
            row(loc(5110, "mirror/hello"), ("failed", "forbidden", "/mirror/hello: denied")),
            row(loc(5103, "mirror/hello"), SERVED),
        ),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-403-ping.log": Expected(
        rc=0,
        attempts=(
            row(
                loc(5106, "mirror/hello"),
                ("failed", "forbidden", "invalid status code from registry 403 (Forbidden)"),
            ),
            row(loc(5103, "mirror/hello"), SERVED),
        ),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-tls-errors.log": Expected(
        rc=0,
        attempts=(
            row(
                loc(5105, "mirror/hello"),
                ("failed", "tls", "x509: certificate signed by unknown authority"),
            ),
            row(
                loc(5102, "mirror/hello"),
                ("failed", "http-to-https", "http: server gave HTTP response to HTTPS client"),
            ),
            row(loc(5103, "mirror/hello"), SERVED),
        ),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-dns-failure.log": Expected(
        rc=0,
        attempts=(
            (
                "mirror.invalid:5000/mirror/hello@" + D,
                "failed",
                "dns",
                "lookup mirror.invalid on 192.0.2.53:53: no such host",
            ),
            row(loc(5103, "mirror/hello"), SERVED),
        ),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-connect-timeout.log": Expected(
        rc=0,
        attempts=(
            row(
                loc(5111, "mirror/hello"),
                ("failed", "timeout", "dial tcp 127.0.0.1:5111: i/o timeout"),
            ),
            row(loc(5103, "mirror/hello"), SERVED),
        ),
        served_by=loc(5103, "mirror/hello"),
    ),
    "mirror-hang.log": Expected(
        rc=124,
        killed=True,
        attempts=((loc(5107, "mirror/hello"), "hung", None, None),),
        served_by=None,
        shutdown=True,
    ),
    "idms-digest-only-tag.log": Expected(
        rc=0,
        attempts=(row(loc(5101, "src/hello", ":v1"), SERVED),),
        served_by=loc(5101, "src/hello", ":v1"),
    ),
    "itms-tag-only-tag.log": Expected(
        rc=0,
        attempts=(row(loc(5103, "mirror/hello", ":v1"), SERVED),),
        served_by=loc(5103, "mirror/hello", ":v1"),
    ),
    "itms-tag-only-digest.log": Expected(
        rc=0,
        attempts=(row(loc(5101, "src/hello"), SERVED),),
        served_by=loc(5101, "src/hello"),
    ),
    "blocked-mirror-serves.log": Expected(
        rc=0,
        attempts=(row(loc(5103, "mirror/hello"), SERVED),),
        served_by=loc(5103, "mirror/hello"),
    ),
    "blocked-mirrors-fail.log": Expected(
        rc=125,
        attempts=(
            row(loc(5109, "mirror/hello"), REFUSED),
            row(loc(5102, "mirror/hello"), UNKNOWN),
            row(loc(5101, "src/hello"), BLOCKED),
        ),
        served_by=None,
        final_error="(Mirrors also failed: ",
        error_lines=2,
        sources=(loc(5109, "mirror/hello"), loc(5102, "mirror/hello"), loc(5101, "src/hello")),
    ),
    "blocked-no-mirrors.log": Expected(
        rc=125,
        attempts=(row(loc(5101, "src/hello"), BLOCKED),),
        served_by=None,
        final_error="registry 127.0.0.1:5101/src/hello is blocked in",
        error_lines=1,
        sources=(loc(5101, "src/hello"),),
    ),
    "blocked-tag.log": Expected(
        rc=125,
        attempts=(row(loc(5101, "src/hello", ":v1"), BLOCKED),),
        served_by=None,
        final_error="registry 127.0.0.1:5101/src/hello is blocked in",
        error_lines=1,
        sources=(loc(5101, "src/hello", ":v1"),),
    ),
    "longest-prefix.log": Expected(
        rc=0,
        attempts=(row(loc(5102, "mirror/hello"), UNKNOWN), row(loc(5101, "src/hello"), SERVED)),
        served_by=loc(5101, "src/hello"),
    ),
    "registry-scope-rewrite.log": Expected(
        rc=125,
        attempts=(
            row(loc(5103, "mirror/src/other"), UNKNOWN),
            row(loc(5101, "src/other"), UNKNOWN),
        ),
        served_by=None,
        final_error="(Mirrors also failed: [127.0.0.1:5103/mirror/src/other@",
        error_lines=1,
        sources=(loc(5103, "mirror/src/other"), loc(5101, "src/other")),
    ),
    "already-present.log": Expected(
        rc=0,
        attempts=(row(loc(5103, "mirror/hello"), SERVED),),
        served_by=loc(5103, "mirror/hello"),
    ),
    "skopeo-inspect-raw-mirror-missing-digest.log": Expected(
        rc=0,
        tool="skopeo",
        attempts=(row(loc(5102, "mirror/hello"), UNKNOWN), row(loc(5103, "mirror/hello"), SERVED)),
        served_by=loc(5103, "mirror/hello"),
    ),
    "skopeo-inspect-raw-all-fail.log": Expected(
        rc=1,
        tool="skopeo",
        attempts=(
            row(loc(5109, "mirror/gone"), REFUSED),
            row(loc(5104, "mirror/gone"), UNAUTHORIZED),
            row(loc(5102, "mirror/gone"), UNKNOWN),
            row(loc(5101, "src/gone"), UNKNOWN),
        ),
        served_by=None,
        final_error='Error parsing image name "docker://127.0.0.1:5101/src/gone@',
        error_lines=3,  # the literal \n of logrus turned into real newlines
        sources=(
            loc(5109, "mirror/gone"),
            loc(5104, "mirror/gone"),
            loc(5102, "mirror/gone"),
            loc(5101, "src/gone"),
        ),
    ),
    "skopeo-inspect-raw-blocked-mirrors-fail.log": Expected(
        rc=1,
        tool="skopeo",
        attempts=(
            row(loc(5109, "mirror/hello"), REFUSED),
            row(loc(5102, "mirror/hello"), UNKNOWN),
            row(loc(5101, "src/hello"), BLOCKED),
        ),
        served_by=None,
        final_error='Error parsing image name "docker://127.0.0.1:5101/src/hello@',
        error_lines=2,
        sources=(loc(5109, "mirror/hello"), loc(5102, "mirror/hello"), loc(5101, "src/hello")),
    ),
    "skopeo-inspect-tags-source-down.log": Expected(
        rc=1,
        tool="skopeo",
        # the manifest came from 5103; only the tag listing (source 5108) failed
        attempts=(row(loc(5103, "mirror/hello"), SERVED),),
        served_by=loc(5103, "mirror/hello"),
        final_error="Error determining repository tags: pinging container registry 127.0.0.1:5108",
        error_lines=1,
    ),
    "skopeo-inspect-notags-source-down.log": Expected(
        rc=0,
        tool="skopeo",
        attempts=(row(loc(5103, "mirror/hello"), SERVED),),
        served_by=loc(5103, "mirror/hello"),
    ),
}


def parse_fixture(name: str) -> PullLog:
    expected = EXPECTED[name]
    return parse_pull_log(read_fixture(name), exit_code=expected.rc, killed=expected.killed)


def test_every_fixture_has_expectations() -> None:
    on_disk = {path.name for path in require(PODMAN_43).glob("*.log")}
    assert on_disk, "no fixtures found"
    assert on_disk == set(EXPECTED), (
        f"fixtures without expectations: {sorted(on_disk - set(EXPECTED))}; "
        f"expectations without a fixture: {sorted(set(EXPECTED) - on_disk)}"
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    expected = EXPECTED[name]
    result = parse_fixture(name)

    got = [(a.location, a.outcome, a.reason) for a in result.attempts]
    assert got == [
        (location, outcome, reason) for location, outcome, reason, _ in expected.attempts
    ]
    for attempt, (*_, fragment) in zip(result.attempts, expected.attempts):
        if fragment is None:
            assert attempt.message is None
        else:
            assert attempt.message is not None and fragment in attempt.message
            assert '\\"' not in attempt.message  # unescaped
    assert result.served_by == expected.served_by
    assert result.tool == expected.tool
    assert result.rounds == expected.rounds
    assert len(result.earlier_rounds) == expected.rounds - 1
    assert result.shutdown is expected.shutdown
    assert result.config_files == CONFIG_FILES

    if expected.final_error is None:
        assert result.final_error is None
    else:
        assert result.final_error is not None
        assert expected.final_error in result.final_error
        assert result.final_error.count("\n") + 1 == expected.error_lines
        assert "\\n" not in result.final_error and '\\"' not in result.final_error

    assert [ref for ref, _ in result.final_error_sources] == list(expected.sources)
    if expected.sources:
        # Cross-check: each source's error in the final error is what its attempt logged.
        messages = {a.location: a.message for a in result.attempts}
        for ref, error in result.final_error_sources:
            assert messages[ref] == error


def test_retry_rounds_are_identical_and_the_last_decides() -> None:
    result = parse_fixture("all-fail-source-unreachable.log")
    assert result.rounds == 4
    assert all(rnd == result.attempts for rnd in result.earlier_rounds)
    single = parse_fixture("tag-digest-only-source-down.log")
    assert single.earlier_rounds == (single.attempts,) * 3


def test_mirror_hang_is_reported_at_the_attempt_whether_or_not_killed_is_passed() -> None:
    text = read_fixture("mirror-hang.log")
    hung = Attempt(loc(5107, "mirror/hello"), "hung")
    assert parse_pull_log(text, exit_code=124, killed=True).attempts == (hung,)
    # the shutdown line alone is enough
    assert parse_pull_log(text, exit_code=None).attempts == (hung,)
    # killed before podman could log its shutdown: `killed` alone is enough
    cut = "\n".join(line for line in text.splitlines() if "shutdown" not in line)
    assert parse_pull_log(cut, exit_code=None, killed=True).attempts == (hung,)
    # neither: the log just stops
    unfinished = parse_pull_log(cut, exit_code=None)
    assert unfinished.attempts == (Attempt(loc(5107, "mirror/hello"), "unfinished"),)
    assert unfinished.served_by is None and not unfinished.shutdown


def test_without_exit_status_a_success_log_is_unfinished() -> None:
    result = parse_pull_log(read_fixture("first-mirror-down.log"), exit_code=None)
    assert [a.outcome for a in result.attempts] == ["failed", "unfinished"]
    assert result.served_by is None
    failed = parse_pull_log(read_fixture("first-mirror-down.log"), exit_code=125)
    assert failed.served_by is None
    # the process exited 0 just as the agent's timeout fired: it was served
    raced = parse_pull_log(read_fixture("first-mirror-down.log"), exit_code=0, killed=True)
    assert raced.served_by == loc(5103, "mirror/hello")


def test_skopeo_tags_failure_needs_no_exit_status() -> None:
    result = parse_pull_log(read_fixture("skopeo-inspect-tags-source-down.log"), exit_code=None)
    assert result.served_by == loc(5103, "mirror/hello")


def test_crlf_line_endings() -> None:
    for name in ("all-fail.log", "mirror-401.log", "skopeo-inspect-raw-all-fail.log"):
        text = read_fixture(name)
        expected = parse_pull_log(text, exit_code=EXPECTED[name].rc)
        crlf = parse_pull_log(text.replace("\n", "\r\n"), exit_code=EXPECTED[name].rc)
        assert crlf == expected


def test_truncated_fixtures_never_raise() -> None:
    for path in sorted(require(PODMAN_43).glob("*.log")):
        text = path.read_text()
        cuts = set(range(0, len(text), max(1, len(text) // 97)))
        cuts.update(i for i, char in enumerate(text) if char == "\n")
        for cut in sorted(cuts):
            for part in (text[:cut], text[cut:]):
                for exit_code in (None, 0, 125):
                    check_invariants(parse_pull_log(part, exit_code=exit_code))
                parse_crio_journal(part)


# --------------------------------------------------------------------------------------
# synthetic podman logs: look-alikes, retries (podman ≥5.6 jitter), final errors


def logrus(msg: str, level: str = "debug", stamp: str = "2026-11-25T20:26:46Z") -> str:
    escaped = msg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'time="{stamp}" level={level} msg="{escaped}"'


QUAY = "quay.io/team/app@sha256:" + "a" * 64
MIRROR = "mirror.example.com:5000/team/app@sha256:" + "a" * 64
MIRROR2 = "backup.example.com/team/app@sha256:" + "a" * 64


def test_look_alike_lines_are_not_attempts() -> None:
    text = "\n".join(
        [
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
            logrus(
                'Content-Type from manifest GET is "application/vnd.oci.image.manifest.v1+json"'
            ),
            logrus(f"Error pulling candidate {QUAY}: initializing source docker://{QUAY}: x"),
            # a message that mentions the phrase without being one
            logrus(f'Looked at "Trying to access \\"{MIRROR2}\\"" in a doc'),
            logrus(f'Accessing "{MIRROR2}" failed: orphan failure line, no attempt'),
            "Writing manifest to image destination",
            "b" * 64,
        ]
    )
    result = parse_pull_log(text, exit_code=0)
    assert result.tool == "podman"
    assert [(a.location, a.outcome, a.reason) for a in result.attempts] == [
        (MIRROR, "failed", "manifest-unknown"),
        (QUAY, "served", None),
    ]
    assert result.served_by == QUAY
    assert result.final_error is None and result.final_error_sources == ()


def test_retry_rounds_with_jitter_line_podman_5_6() -> None:
    error = (
        f"initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: pinging "
        f'container registry mirror.example.com:5000: Get "https://mirror.example.com:5000/v2/": '
        f"dial tcp 10.0.0.5:5000: connect: connection refused]): {QUAY}: pinging container "
        f'registry quay.io: Get "https://quay.io/v2/": dial tcp 1.2.3.4:443: i/o timeout'
    )
    one_round = [
        logrus(f'Trying to access "{MIRROR}"'),
        logrus(f'Accessing "{MIRROR}" failed: pinging container registry x: connection refused'),
        logrus(f'Trying to access "{QUAY}"'),
        logrus(f'Accessing "{QUAY}" failed: dial tcp 1.2.3.4:443: i/o timeout'),
    ]
    lines = [logrus("podman filtering at log level debug", "info")]
    for number in (1, 2):
        lines += one_round
        lines.append(logrus(f"Failed, retrying in 2s ... ({number}/2). Error: {error}", "warning"))
        lines.append(logrus("Retry delay with added jitter: 2.179s"))
    lines += one_round[:3]  # the last round: the source serves
    result = parse_pull_log("\n".join(lines), exit_code=0)
    assert result.rounds == 3
    assert len(result.earlier_rounds) == 2
    for earlier in result.earlier_rounds:
        assert [(a.location, a.reason) for a in earlier] == [
            (MIRROR, "connection-refused"),
            (QUAY, "timeout"),
        ]
    assert [(a.location, a.outcome) for a in result.attempts] == [
        (MIRROR, "failed"),
        (QUAY, "served"),
    ]
    assert result.served_by == QUAY


def test_a_round_retried_after_the_manifest_was_served() -> None:
    lines = [
        logrus(f'Trying to access "{MIRROR}"'),
        logrus("GET https://mirror.example.com:5000/v2/team/app/blobs/sha256:bbb"),
        logrus(
            "Failed, retrying in 1s ... (1/3). Error: writing blob: fetching blob: "
            "connection reset by peer",
            "warning",
        ),
        logrus(f'Trying to access "{MIRROR}"'),
        "Error: writing blob: storing blob to file: happened during read: unexpected EOF",
    ]
    result = parse_pull_log("\n".join(lines), exit_code=125)
    assert result.earlier_rounds == ((Attempt(MIRROR, "served"),),)
    # rc 125 but not a resolution failure: the mirror served the manifest
    assert result.attempts == (Attempt(MIRROR, "served"),)
    assert result.final_error_sources == ()


def test_dangling_attempt_with_a_resolution_error_is_unfinished() -> None:
    lines = [
        logrus(f'Trying to access "{MIRROR}"'),
        f"Error: initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: x]): "
        f"{QUAY}: y",
    ]
    result = parse_pull_log("\n".join(lines), exit_code=125)
    assert result.attempts == (Attempt(MIRROR, "unfinished"),)


def test_only_the_last_attempt_can_be_served() -> None:
    lines = [
        logrus(f'Trying to access "{MIRROR}"'),  # its failure line was lost
        logrus(f'Trying to access "{MIRROR2}"'),
        logrus(f'Accessing "{MIRROR2}" failed: manifest unknown'),
        logrus(f'Trying to access "{QUAY}"'),
    ]
    result = parse_pull_log("\n".join(lines), exit_code=0)
    assert [a.outcome for a in result.attempts] == ["unfinished", "failed", "served"]


def test_final_error_continuation_stops_at_the_next_logrus_line() -> None:
    lines = [
        logrus(f'Trying to access "{MIRROR}"'),
        logrus(f'Accessing "{MIRROR}" failed: manifest unknown'),
        logrus(f'Trying to access "{QUAY}"'),
        logrus(f'Accessing "{QUAY}" failed: manifest unknown'),
        f"Error: initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: manifest "
        "unknown",
        f"second line]): {QUAY}: manifest unknown",
        logrus("Shutting down engines"),
        "",
    ]
    result = parse_pull_log("\n".join(lines), exit_code=125)
    assert result.final_error is not None
    assert result.final_error.splitlines() == [lines[4], lines[5]]
    assert result.final_error_sources == (
        (MIRROR, "manifest unknown\nsecond line"),
        (QUAY, "manifest unknown"),
    )


def test_single_source_error_names_the_physical_source() -> None:
    # registries.conf rewrote quay.io/team → mirror (location != prefix, no mirrors): the
    # error comes back unchanged under the logical reference.
    logical = "quay.io/team/app:v1"
    physical = "internal.example.com/team/app:v1"
    message = 'pinging container registry internal.example.com: Get "https://x/v2/": EOF'
    lines = [
        logrus(f'Trying to access "{physical}"'),
        logrus(f'Accessing "{physical}" failed: {message}'),
        f"Error: initializing source docker://{logical}: {message}",
    ]
    result = parse_pull_log("\n".join(lines), exit_code=125)
    assert result.final_error_sources == ((physical, message),)
    # from the text alone, the logical reference is all there is
    assert parse_error_sources(f"initializing source docker://{logical}: {message}") == (
        (logical, message),
    )


def test_messages_and_final_error_are_redacted() -> None:
    secret_url = "http://bob:hunter2@proxy.example.com:3128"
    message = (
        f"pinging container registry q: proxyconnect tcp: dial tcp: {secret_url}: EOF token=abc"
    )
    lines = [
        logrus(f'Trying to access "{QUAY}"'),
        logrus(f'Accessing "{QUAY}" failed: {message}'),
        f"Error: initializing source docker://{QUAY}: {message}",
    ]
    result = parse_pull_log("\n".join(lines), exit_code=125)
    for text in (result.attempts[0].message, result.final_error, result.final_error_sources[0][1]):
        assert text is not None
        assert "hunter2" not in text and "abc" not in text
        assert "bob:REDACTED@proxy.example.com" in text


def test_unescaping_of_go_quoted_messages() -> None:
    line = (
        'time="t" level=debug msg="Accessing \\"h/r@sha256:1\\" failed: a\\tb \\\\ \\u00e9 '
        '\\x41 \\xff \\101 \\q \\"q\\""'
    )
    result = parse_pull_log(logrus('Trying to access "h/r@sha256:1"') + "\n" + line, exit_code=1)
    assert result.attempts[0].message == 'a\tb \\ é A \ufffd A \\q "q"'


def test_unquoted_and_journal_prefixed_logrus_lines() -> None:
    lines = [
        "level=debug msg=Using-registries.d",
        'Nov 25 10:00:00 node-1 podman[77]: time="x" level=debug '
        'msg="Trying to access \\"a/b:c\\""',
    ]
    result = parse_pull_log("\n".join(lines), exit_code=0)
    assert result.attempts == (Attempt("a/b:c", "served"),)


def test_config_files_unique_in_first_seen_order() -> None:
    lines = [
        logrus('Loading registries configuration "/etc/containers/registries.conf"'),
        logrus('Loading registries configuration "/etc/containers/registries.conf.d/99.conf"'),
        logrus("Failed, retrying in 1s ... (1/3). Error: x", "warning"),
        logrus('Loading registries configuration "/etc/containers/registries.conf"'),
        logrus('Loading registries configuration "/root/.config/containers/registries.conf.d/a"'),
    ]
    result = parse_pull_log("\n".join(lines), exit_code=None)
    assert result.config_files == (
        "/etc/containers/registries.conf",
        "/etc/containers/registries.conf.d/99.conf",
        "/root/.config/containers/registries.conf.d/a",
    )
    assert result.tool == "skopeo"  # c/image lines, no podman marker


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("", "unknown"),
        ("hello\nworld\n", "unknown"),
        (logrus("podman filtering at log level debug", "info"), "podman"),
        (logrus("Called pull.PersistentPreRunE(podman pull x)"), "podman"),
        ("Trying to pull quay.io/x:v1...\nError: something", "podman"),
        (logrus('Trying to access "a/b:c"'), "skopeo"),
        (logrus("Error parsing image name", "fatal"), "skopeo"),
        ("Nov 25 10:00:00 n crio[1]: " + logrus('Trying to access "a/b:c"', "info"), "crio"),
        (logrus("Pulling image: quay.io/x:v1", "info"), "crio"),
    ],
)
def test_tool_detection(text: str, tool: str) -> None:
    assert parse_pull_log(text, exit_code=None).tool == tool


# --------------------------------------------------------------------------------------
# final_error_sources


def test_error_sources_robust_to_brackets_and_colons() -> None:
    ipv6 = "[fd00::5]:5000/mirror/app@sha256:" + "b" * 64
    error = (
        "initializing source docker://q.io/a/app:v1: (Mirrors also failed: "
        f'[{ipv6}: pinging container registry [fd00::5]:5000: Get "https://[fd00::5]:5000/v2/": '
        "dial tcp [fd00::5]:5000: connect: connection refused]\n"
        "[m.example.com/a/app:v1: reading manifest v1 in m.example.com/a/app: errors:\n"
        "denied: [weird] text: with ]): colons]\n"
        "[n.example.com:443/a/app:v1: manifest unknown]): q.io/a/app:v1: "
        "unauthorized: [x]: y"
    )
    assert parse_error_sources(error) == (
        (
            ipv6,
            'pinging container registry [fd00::5]:5000: Get "https://[fd00::5]:5000/v2/": '
            "dial tcp [fd00::5]:5000: connect: connection refused",
        ),
        (
            "m.example.com/a/app:v1",
            "reading manifest v1 in m.example.com/a/app: errors:\n"
            "denied: [weird] text: with ]): colons",
        ),
        ("n.example.com:443/a/app:v1", "manifest unknown"),
        ("q.io/a/app:v1", "unauthorized: [x]: y"),
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("", ()),
        ("Error determining repository tags: pinging container registry h:5108: x", ()),
        (
            "initializing source docker://h.io/a/b:v1: registry h.io/a/b is blocked in /etc/c",
            (("h.io/a/b:v1", "registry h.io/a/b is blocked in /etc/c"),),
        ),
        (
            'Error parsing image name "docker://h.io/a/b:v1": manifest unknown',
            (("h.io/a/b:v1", "manifest unknown"),),
        ),
        (  # kubelet event text around a CRI-O error
            "Failed to pull image: rpc error: code = Unknown desc = (Mirrors also failed: "
            "[m.io/a/b:v1: x]): h.io/a/b:v1: y",
            (("m.io/a/b:v1", "x"), ("h.io/a/b:v1", "y")),
        ),
        ("(Mirrors also failed: [m.io/a/b:v1: x]", ()),  # truncated
        ("(Mirrors also failed: no bracket", ()),
        ("(Mirrors also failed: [no ref here]): h.io/a/b:v1: y", ()),
    ],
)
def test_error_sources_cases(error: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_error_sources(error) == expected


# --------------------------------------------------------------------------------------
# classify_failure

H = "registry.example.com"
CLASSIFY = [
    # podman 4.3 wording (the fixtures)
    (
        f'pinging container registry {H}: Get "http://{H}/v2/": dial tcp 10.0.0.1:5000: '
        "connect: connection refused",
        "connection-refused",
    ),
    (
        f'pinging container registry {H}: Get "http://{H}/v2/": dial tcp: lookup {H} on '
        "192.0.2.53:53: no such host",
        "dns",
    ),
    (
        f'pinging container registry {H}: Get "http://{H}/v2/": '
        "dial tcp 10.0.0.1:5000: i/o timeout",
        "timeout",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": net/http: TLS handshake timeout',
        "timeout",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": x509: certificate signed by '
        "unknown authority",
        "tls",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": http: server gave HTTP response '
        "to HTTPS client",
        "http-to-https",
    ),
    (f"reading manifest {D} in {H}/r: unauthorized: authentication required", "unauthorized"),
    (f"reading manifest {D} in {H}/r: denied", "forbidden"),
    (
        f"pinging container registry {H}: invalid status code from registry 403 (Forbidden)",
        "forbidden",
    ),
    (f"reading manifest {D} in {H}/r: manifest unknown: manifest unknown", "manifest-unknown"),
    (
        f"registry {H}/r is blocked in /etc/containers/registries.conf or "
        "/root/.config/containers/registries.conf.d",
        "blocked",
    ),
    # podman 4.4+ / 5.x (c/image ≥5.24): errcodes no longer doubled
    (f"reading manifest {D} in {H}/r: manifest unknown", "manifest-unknown"),
    (f"reading manifest {D} in {H}/r: authentication required", "unauthorized"),
    (
        f"reading manifest v1 in {H}/r: name unknown: repository name not known to registry",
        "manifest-unknown",
    ),
    (
        f"reading manifest v1 in {H}/r: denied: requested access to the resource is denied",
        "forbidden",
    ),
    # Go ≥1.20 builds (RHEL 9.4+)
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": tls: failed to verify '
        "certificate: x509: certificate signed by unknown authority",
        "tls",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": tls: failed to verify '
        f"certificate: x509: certificate is valid for other.example.com, not {H}",
        "tls",
    ),
    # c/image ≥5.35 (podman 5.5+)
    (
        f"pinging container registry {H}: received unexpected HTTP status: 403 Forbidden",
        "forbidden",
    ),
    (
        f"reading manifest {D} in {H}/r: received unexpected HTTP status: 401 Unauthorized",
        "unauthorized",
    ),
    (
        f"reading manifest {D} in {H}/r: received unexpected HTTP status: 404 Not Found",
        "manifest-unknown",
    ),
    (
        f"pinging container registry {H}: received unexpected HTTP status: 503 Service Unavailable",
        "other",
    ),
    # pre-2021 builds (c/image <5.14)
    (
        f"Error reading manifest {D} in {H}/r: manifest unknown: manifest unknown",
        "manifest-unknown",
    ),
    (
        f"error pinging docker registry {H}: Get https://{H}/v2/: dial tcp 10.0.0.1:443: "
        "connect: connection refused",
        "connection-refused",
    ),
    (
        f"error pinging docker registry {H}: invalid status code from registry 403 (Forbidden)",
        "forbidden",
    ),
    (
        f"Error reading manifest latest in {H}/r: unauthorized: authentication required",
        "unauthorized",
    ),
    # DNS variants, including a lookup that times out or is refused
    (f"dial tcp: lookup {H}: no such host", "dns"),  # cgo resolver: no "on …"
    (f"dial tcp: lookup {H} on 10.0.0.10:53: server misbehaving", "dns"),
    (
        f"dial tcp: lookup {H} on 10.0.0.10:53: read udp 10.0.0.5:41000->10.0.0.10:53: i/o timeout",
        "dns",
    ),
    (
        f"dial tcp: lookup {H} on 10.0.0.10:53: read udp 10.0.0.5:41000->10.0.0.10:53: read: "
        "connection refused",
        "dns",
    ),
    (f"dial tcp: lookup {H}: Temporary failure in name resolution", "dns"),
    # timeouts
    ("context deadline exceeded", "timeout"),
    (
        f'Get "https://{H}/v2/": net/http: request canceled while waiting for connection '
        "(Client.Timeout exceeded while awaiting headers)",
        "timeout",
    ),
    ("dial tcp 10.0.0.1:443: connect: connection timed out", "timeout"),
    # TLS variants
    ("x509: certificate has expired or is not yet valid: current time 2030-01-01", "tls"),
    ("remote error: tls: handshake failure", "tls"),
    ('Get "https://h/v2/": tls: first record does not look like a TLS handshake', "tls"),
    # auth
    (
        "unable to retrieve auth token: invalid username/password: unauthorized: incorrect "
        "username or password",
        "unauthorized",
    ),
    ("unauthorized: access to the requested resource is not authorized", "unauthorized"),
    # other
    ("too many requests to registry", "other"),
    ("read tcp 10.0.0.5:4000->10.0.0.1:443: read: connection reset by peer", "other"),
    ("open /etc/docker/certs.d/h/client.key: permission denied", "other"),
    ("", "other"),
    ("unexpected EOF", "other"),
    # case-insensitive
    ("DIAL TCP 1.2.3.4:5: CONNECT: CONNECTION REFUSED", "connection-refused"),
    ("Reading Manifest X In Y: MANIFEST UNKNOWN", "manifest-unknown"),
    # names are not the error: hosts and repositories that read like one
    (
        "reading manifest sha256:abc in 127.0.0.1:5000/team/access-denied-x: manifest unknown",
        "manifest-unknown",
    ),
    (
        'pinging container registry certificate-mirror.example.com: Get "https://'
        'certificate-mirror.example.com/v2/": dial tcp 10.0.0.1:443: connect: connection refused',
        "connection-refused",
    ),
    (
        "reading manifest latest in timeout.example/forbidden/unauthorized: "
        "received unexpected HTTP status: 500 Internal Server Error",
        "other",
    ),
]


@pytest.mark.parametrize(("message", "reason"), CLASSIFY)
def test_classify_failure(message: str, reason: str) -> None:
    assert reason in REASONS
    assert classify_failure(message) == reason


def test_classify_a_whole_mirrors_error_by_its_primary() -> None:
    error = (
        "initializing source docker://h.io/a:v1: (Mirrors also failed: [m.io/a:v1: "
        "dial tcp 1.2.3.4:5: connect: connection refused]): h.io/a:v1: registry h.io/a is "
        "blocked in /etc/containers/registries.conf"
    )
    assert classify_failure(error) == "blocked"


def test_reasons_are_the_published_tuple() -> None:
    assert REASONS == (
        "connection-refused",
        "dns",
        "tls",
        "timeout",
        "unauthorized",
        "forbidden",
        "manifest-unknown",
        "blocked",
        "http-to-https",
        "other",
    )


# --------------------------------------------------------------------------------------
# redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer REDACTED"),
        ("authorization: basic dXNlcjpwYXNzd29yZA==", "authorization: basic REDACTED"),
        (
            f"map[Authorization:[Bearer {JWT}] Accept:[*/*]]",
            "map[Authorization:[Bearer REDACTED] Accept:[*/*]]",
        ),
        (
            '{"Authorization": "Basic dXNlcjpwYXNz", "Accept": "x"}',
            '{"Authorization": "Basic REDACTED", "Accept": "x"}',
        ),
        ("Proxy-Authorization: Basic Ym9iOmh1bnRlcjI=", "Proxy-Authorization: Basic REDACTED"),
        ("X-Registry-Auth: eyJ1c2VybmFtZSI6ImJvYiJ9", "X-Registry-Auth: REDACTED"),
        (f"sent Bearer {JWT} to h", "sent Bearer REDACTED to h"),
        (
            "https://bob:hunter2@registry.example.com/v2/",
            "https://bob:REDACTED@registry.example.com/v2/",
        ),
        (
            "proxy http://svc-user:p%40ss@10.0.0.1:3128 down",
            "proxy http://svc-user:REDACTED@10.0.0.1:3128 down",
        ),
        (
            "GET https://auth.example.com/token?scope=repo%3Aa%3Apull&access_token=abc123&service=r",
            "GET https://auth.example.com/token?scope=repo%3Aa%3Apull&access_token=REDACTED&service=r",
        ),
        (
            "https://h/x?token=abc&refresh_token=def",
            "https://h/x?token=REDACTED&refresh_token=REDACTED",
        ),
        ("login with password=hunter2 ok", "login with password=REDACTED ok"),
        (
            '{"token":"abc","access_token":"def","expires_in":300,"issued_at":"2024"}',
            '{"token":"REDACTED","access_token":"REDACTED","expires_in":300,"issued_at":"2024"}',
        ),
        (
            '{"refresh_token": "r3fr3sh", "scope": "pull"}',
            '{"refresh_token": "REDACTED", "scope": "pull"}',
        ),
        ('msg="body {\\"token\\":\\"abc\\"}"', 'msg="body {\\"token\\":\\"REDACTED\\"}"'),
        (
            '{"auths":{"r.io":{"auth":"Ym9iOmh1bnRlcjI=","email":"b@x"}}}',
            '{"auths":{"r.io":{"auth":"REDACTED","email":"b@x"}}}',
        ),
        ('{"username":"bob","password":"hunter2"}', '{"username":"bob","password":"REDACTED"}'),
        ("skopeo --creds bob:hunter2 inspect", "skopeo --creds bob:REDACTED inspect"),
        (
            "proxy http://svc-user:p@ss@10.0.0.1:3128 down",  # an unencoded @ in the password
            "proxy http://svc-user:REDACTED@10.0.0.1:3128 down",
        ),
        ("$ podman login -u bob -p hunter2 quay.io", "$ podman login -u bob -p REDACTED quay.io"),
        ("podman login --password=s3cret r.io", "podman login --password=REDACTED r.io"),
        (
            "skopeo copy --src-creds a:b --dest-password x --registry-token t docker://a",
            "skopeo copy --src-creds a:REDACTED --dest-password REDACTED --registry-token "
            "REDACTED docker://a",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"reading manifest {D} in 127.0.0.1:5104/mirror/hello: unauthorized: "
        "authentication required",
        f"quay.io/team/app@{D} and docker://user@sha256:abc",
        'WWW-Authenticate: Bearer realm="https://auth.example.com/token",service="registry"',
        "unable to retrieve auth token: invalid username/password: unauthorized: incorrect",
        "Looking for TLS certificates and private keys in /etc/docker/certs.d/h:5000",
        'Get "https://quay.io/v2/auth?scope=repository%3Ax%3Apull&service=quay.io": EOF',
        "ssh -p 22 core@node-1 and mail b@x.example",
        "http://proxy.example:3128/ and https://h/x@y",
    ],
)
def test_redact_keeps_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_fixture_texts_need_no_redaction() -> None:
    for path in sorted(require(PODMAN_43).glob("*.log")):
        text = path.read_text()
        assert redact(text) == text, path.name


# --------------------------------------------------------------------------------------
# logrus terminal format (`DEBU[0000] …`), as pasted from an `oc debug` session

_LOGRUS_LINE = re.compile(r'time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"((?: \w+=\S+)*)\Z')
_GO_ESCAPE = re.compile(r"\\(.)")
# logrus' colours: debug/trace gray, info blue, warning yellow, error/fatal/panic red
_COLOURS = {"trace": 37, "debug": 37, "info": 36, "warning": 33, "error": 31, "fatal": 31}


def to_terminal(text: str, colours: bool) -> str:
    """``text`` as logrus prints it on a terminal (TextFormatter.printColored).

    ``LEVL[SSSS] msg`` with the level cut to 4 capitals, seconds since start, the message
    unquoted (its newlines real) and padded with ``%-44s ``, then `` key=value`` fields; with
    ``colours`` the level and each key are wrapped in ANSI codes. Other lines are kept.
    """
    out = []
    for number, line in enumerate(text.split("\n")):
        match = _LOGRUS_LINE.match(line)
        if match is None:
            out.append(line)
            continue
        level, quoted, fields = match.groups()
        msg = _GO_ESCAPE.sub(lambda e: "\n" if e.group(1) == "n" else e.group(1), quoted)
        code = _COLOURS[level]
        head = level.upper()[:4]
        pairs = [field.split("=", 1) for field in fields.split()]
        if colours:
            head = f"\x1b[{code}m{head}\x1b[0m"
            tail = "".join(f" \x1b[{code}m{key}\x1b[0m={value}" for key, value in pairs)
        else:
            tail = "".join(f" {key}={value}" for key, value in pairs)
        out.append(f"{head}[{number // 50:04d}] {msg:<44} {tail}")
    return "\n".join(out)


def test_to_terminal_writes_what_logrus_writes() -> None:
    text = "\n".join(
        [
            logrus("podman filtering at log level debug", "info"),
            logrus('Received shutdown signal "terminated", terminating!', "info") + " PID=19144",
            logrus("Error parsing image name: a\nb", "fatal"),
            "Trying to pull x...",
        ]
    )
    assert to_terminal(text, colours=False).split("\n") == [
        "INFO[0000] podman filtering at log level debug          ",
        'INFO[0000] Received shutdown signal "terminated", terminating!  PID=19144',
        "FATA[0000] Error parsing image name: a",
        "b" + " " * 16,  # the message is padded to 44 characters, newline included
        "Trying to pull x...",
    ]
    assert to_terminal(text, colours=True).split("\n")[1] == (
        '\x1b[36mINFO\x1b[0m[0000] Received shutdown signal "terminated", terminating!  '
        "\x1b[36mPID\x1b[0m=19144"
    )


@pytest.mark.parametrize("colours", [False, True], ids=["plain", "ansi"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_terminal_format_gives_the_same_result(name: str, colours: bool) -> None:
    expected = EXPECTED[name]
    text = read_fixture(name)
    terminal = to_terminal(text, colours)
    assert not any(line.startswith("time=") for line in terminal.split("\n"))
    original = parse_pull_log(text, exit_code=expected.rc, killed=expected.killed)
    result = parse_pull_log(terminal, exit_code=expected.rc, killed=expected.killed)
    assert result == original  # attempts, outcomes, reasons, messages, served_by, error …
    for exit_code in (None, 0, 125):
        assert parse_pull_log(terminal, exit_code=exit_code) == parse_pull_log(
            text, exit_code=exit_code
        )
    # read as a journal: the same attempts (the time differs: `[0000]` is no point in time)
    assert [pull.attempts for pull in parse_crio_journal(terminal)] == [
        pull.attempts for pull in parse_crio_journal(text)
    ]


def test_terminal_format_fixtures_by_hand() -> None:
    # Spelled out for two fixtures, so that a parser that ignores both formats cannot pass.
    for colours in (False, True):
        down = parse_pull_log(
            to_terminal(read_fixture("first-mirror-down.log"), colours), exit_code=0
        )
        assert down.tool == "podman"
        assert [(a.location, a.outcome, a.reason) for a in down.attempts] == [
            (loc(5109, "mirror/hello"), "failed", "connection-refused"),
            (loc(5103, "mirror/hello"), "served", None),
        ]
        assert down.attempts[0].message is not None
        assert down.attempts[0].message.endswith("connect: connection refused")
        assert down.served_by == loc(5103, "mirror/hello")
        assert down.config_files == CONFIG_FILES

        retried = parse_pull_log(
            to_terminal(read_fixture("all-fail-source-unreachable.log"), colours), exit_code=125
        )
        assert retried.rounds == 4
        assert [(a.location, a.reason) for a in retried.attempts] == [
            (loc(5109, "mirror/hello"), "connection-refused"),
            (loc(5102, "mirror/hello"), "manifest-unknown"),
            (loc(5108, "src/hello"), "connection-refused"),
        ]
        assert retried.final_error is not None and retried.final_error.startswith("Error: ")
        assert [ref for ref, _ in retried.final_error_sources] == [
            loc(5109, "mirror/hello"),
            loc(5102, "mirror/hello"),
            loc(5108, "src/hello"),
        ]

        skopeo = parse_pull_log(
            to_terminal(read_fixture("skopeo-inspect-raw-all-fail.log"), colours), exit_code=1
        )
        assert skopeo.tool == "skopeo"
        assert skopeo.final_error is not None
        assert skopeo.final_error.count("\n") == 2  # the fatal message went on for 2 lines
        assert len(skopeo.final_error_sources) == 4


def test_terminal_format_variants() -> None:
    try_line = f'Trying to access "{MIRROR}"'
    fail = f'Accessing "{MIRROR}" failed: pinging container registry mirror.example.com:5000: x'
    for first, second in [
        # full timestamp (FullTimestamp), levels not truncated (DisableLevelTruncation)
        (f"DEBUG[2026-11-25T20:26:46Z] {try_line}", f"DEBUG[2026-11-25T20:26:46Z] {fail}"),
        # colour codes whose ESC byte was lost in the copy
        (f"[37mDEBU[0m[0000] {try_line}", f"[37mDEBU[0m[0001] {fail}"),
        # a `ts` prefix or a shell prompt before the entry
        (f"00:00:00.018229 DEBU[0000] {try_line}", f"sh-5.1# DEBU[0000] {fail}"),
        # stray ANSI codes inside the line (bold, erase line) and a CRLF copy
        (
            f'\x1b[37mDEBU\x1b[0m[0000] Trying to access "\x1b[1m{MIRROR}\x1b[0m"\x1b[K\r',
            f"\x1b[37mDEBU\x1b[0m[0000] \x1b[1m{fail}\x1b[0m\r",
        ),
    ]:
        last = f'DEBU[0001] Trying to access "{QUAY}"'
        result = parse_pull_log("\n".join([first, second, last]), exit_code=0)
        assert [(a.location, a.outcome, a.reason) for a in result.attempts] == [
            (MIRROR, "failed", "other"),
            (QUAY, "served", None),
        ], first
        assert result.attempts[0].message == "pinging container registry mirror.example.com:5000: x"


def test_terminal_format_multi_line_messages_and_final_error() -> None:
    text = "\n".join(
        [
            f'DEBU[0000] Trying to access "{MIRROR}"                      ',
            f'DEBU[0030] Accessing "{MIRROR}" failed: reading manifest in mirror: first line',
            "second line: unauthorized: authentication required                  ",
            f'DEBU[0030] Trying to access "{QUAY}"',
            f'DEBU[0031] Accessing "{QUAY}" failed: reading manifest: manifest unknown ',
            "Error: initializing source docker://quay.io/team/app: (Mirrors also failed: [m: e]",
            "[n: f]): quay.io/team/app: g",
        ]
    )
    result = parse_pull_log(text, exit_code=125)
    assert [(a.location, a.reason, a.message) for a in result.attempts] == [
        (
            MIRROR,
            "unauthorized",
            "reading manifest in mirror: first line\n"
            "second line: unauthorized: authentication required",
        ),
        (QUAY, "manifest-unknown", "reading manifest: manifest unknown"),
    ]
    assert result.final_error is not None and result.final_error.count("\n") == 1
    # the `Error:` block ends at the next terminal-format entry, as at a `time=` one
    cut = parse_pull_log("Error: boom\nmore\nINFO[0001] Received shutdown signal", exit_code=None)
    assert cut.final_error == "Error: boom\nmore" and cut.shutdown


def test_terminal_format_look_alikes_are_not_entries() -> None:
    # a `level=` line quoting a terminal entry is read as `level=`; `WARN[` needs a digit
    text = "\n".join(
        [
            logrus(f'Trying to access "{MIRROR}"'),
            'time="t" level=debug msg="child said: DEBU[0000] Trying to access \\"x/y:z\\""',
            f'WARN[abcd] Trying to access "{QUAY}"',
            f'XDEBU[0000] Trying to access "{QUAY}"',
        ]
    )
    assert parse_pull_log(text, exit_code=0).attempts == (Attempt(MIRROR, "served"),)


# --------------------------------------------------------------------------------------
# CRI-O journal

DIGEST = "sha256:" + "c" * 64
REL = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + DIGEST
REL_MIRROR1 = "mirror1.example.com:5000/ocp/release@" + DIGEST
REL_MIRROR2 = "mirror2.example.com/ocp/release@" + DIGEST
APP = "registry.example.com/team/app:v2"
APP_MIRROR = "mirror1.example.com:5000/team/app:v2"
APP_PULLED = "registry.example.com/team/app@sha256:" + "d" * 64


def crio(stamp: str, msg: str, level: str = "info", extra: str = "") -> str:
    """A `journalctl -u crio` line (default short output)."""
    escaped = msg.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'Nov 25 {stamp} node-1 crio[2048]: time="2024-11-25 {stamp}.123456789Z" level={level} '
        f'msg="{escaped}"{extra}'
    )


PULL_RPC = " id=5e0b4d2c-1b4e-4e43-9a33-3c1f0e8c2b11 name=/runtime.v1.ImageService/PullImage"
STATUS_RPC = " id=0f2b1c9e-3d4d-4b8e-8f0e-2a6c4b1d7e22 name=/runtime.v1.ImageService/ImageStatus"

JOURNAL_WITH_PULLING = "\n".join(
    [
        crio("10:00:00", f"Checking image status: {REL}", extra=STATUS_RPC),
        crio("10:00:00", f"Image {REL} not found", extra=STATUS_RPC),
        crio("10:00:01", f"Pulling image: {REL}", extra=PULL_RPC),
        crio("10:00:01", f'Trying to access "{REL_MIRROR1}"'),
        crio("10:00:31", f'Trying to access "{REL_MIRROR2}"'),
        crio("10:00:35", f"Pulled image: {REL}", extra=PULL_RPC),
        crio("10:00:36", "Created container 1a2b3c: openshift-etcd/etcd-node-1/etcd"),
        crio("10:05:00", f"Checking image status: {APP}", extra=STATUS_RPC),
        crio("10:05:00", f"Pulling image: {APP}", extra=PULL_RPC),
        crio("10:05:00", f'Trying to access "{APP_MIRROR}"'),
        crio("10:05:02", f"Pulled image: {APP_PULLED}", extra=PULL_RPC),
    ]
)


def test_crio_journal_with_pulling_lines() -> None:
    pulls = parse_crio_journal(JOURNAL_WITH_PULLING)
    assert pulls == [
        JournalPull(
            image=REL,
            attempts=(Attempt(REL_MIRROR1, "unfinished"), Attempt(REL_MIRROR2, "served")),
            pulled=REL,
            time="Nov 25 10:00:01",
        ),
        JournalPull(
            image=APP,
            attempts=(Attempt(APP_MIRROR, "served"),),
            pulled=APP_PULLED,
            time="Nov 25 10:05:00",
        ),
    ]


def test_crio_journal_at_debug_level_has_failures() -> None:
    text = "\n".join(
        [
            crio("10:00:01", f"Pulling image: {REL}", extra=PULL_RPC),
            crio("10:00:01", f'Trying to access "{REL_MIRROR1}"'),
            crio("10:00:01", "GET https://mirror1.example.com:5000/v2/", "debug"),
            crio(
                "10:00:31",
                f'Accessing "{REL_MIRROR1}" failed: pinging container registry '
                'mirror1.example.com:5000: Get "https://mirror1.example.com:5000/v2/": dial tcp '
                "10.1.2.3:5000: i/o timeout",
                "debug",
            ),
            crio("10:00:31", f'Trying to access "{REL_MIRROR2}"'),
            crio(
                "10:00:31",
                f'Accessing "{REL_MIRROR2}" failed: reading manifest {DIGEST} in '
                "mirror2.example.com/ocp/release: manifest unknown",
                "debug",
            ),
            crio("10:00:32", f'Trying to access "{REL}"'),
            crio("10:00:40", f"Pulled image: {REL}", extra=PULL_RPC),
        ]
    )
    (pull,) = parse_crio_journal(text)
    assert [(a.location, a.outcome, a.reason) for a in pull.attempts] == [
        (REL_MIRROR1, "failed", "timeout"),
        (REL_MIRROR2, "failed", "manifest-unknown"),
        (REL, "served", None),
    ]
    result = parse_pull_log(text, exit_code=None)
    assert result.tool == "crio"
    assert result.served_by == REL
    assert result.attempts == pull.attempts


def test_crio_journal_grep_output_without_pulling_lines() -> None:
    # `journalctl -u crio | grep 'Trying to access'`: a failing pull retried by the kubelet,
    # then another image.
    text = "\n".join(
        [
            crio("10:00:00", f'Trying to access "{REL_MIRROR1}"'),
            crio("10:00:30", f'Trying to access "{REL}"'),
            crio("10:01:00", f'Trying to access "{REL_MIRROR1}"'),
            crio("10:01:30", f'Trying to access "{REL}"'),
            crio("10:02:00", f'Trying to access "{APP_MIRROR}"'),
        ]
    )
    pulls = parse_crio_journal(text)
    assert [(p.image, [a.location for a in p.attempts], p.time) for p in pulls] == [
        (REL_MIRROR1, [REL_MIRROR1, REL], "Nov 25 10:00:00"),
        (REL_MIRROR1, [REL_MIRROR1, REL], "Nov 25 10:01:00"),
        (APP_MIRROR, [APP_MIRROR], "Nov 25 10:02:00"),
    ]
    assert all(a.outcome == "unfinished" for p in pulls for a in p.attempts)
    assert all(p.pulled is None for p in pulls)
    # parse_pull_log: the last pull decides; earlier pulls of the same image are rounds
    result = parse_pull_log("\n".join(text.splitlines()[:4]), exit_code=None)
    assert result.tool == "crio"
    assert result.rounds == 2
    assert result.attempts == (Attempt(REL_MIRROR1, "unfinished"), Attempt(REL, "unfinished"))
    assert result.earlier_rounds == (result.attempts,)
    assert result.served_by is None and result.final_error is None


def test_crio_failed_pull_then_kubelet_retry() -> None:
    text = "\n".join(
        [
            crio("10:00:00", f"Pulling image: {REL}", extra=PULL_RPC),
            crio("10:00:00", f'Trying to access "{REL_MIRROR1}"'),
            crio("10:00:30", f'Trying to access "{REL}"'),
            crio("10:00:40", f"Pulling image: {REL}", extra=PULL_RPC),  # back-off retry
            crio("10:00:40", f'Trying to access "{REL_MIRROR1}"'),
            crio("10:00:41", f"Pulled image: {REL}", extra=PULL_RPC),
        ]
    )
    pulls = parse_crio_journal(text)
    assert [[(a.location, a.outcome) for a in p.attempts] for p in pulls] == [
        [(REL_MIRROR1, "unfinished"), (REL, "unfinished")],
        [(REL_MIRROR1, "served")],
    ]
    result = parse_pull_log(text, exit_code=None)
    assert result.rounds == 2
    assert result.served_by == REL_MIRROR1


def test_crio_interleaved_pulls_of_different_images() -> None:
    text = "\n".join(
        [
            crio("10:00:00", f"Pulling image: {REL}", extra=PULL_RPC),
            crio("10:00:00", f"Pulling image: {APP}", extra=PULL_RPC),
            crio("10:00:00", f'Trying to access "{APP_MIRROR}"'),
            crio("10:00:00", f'Trying to access "{REL_MIRROR1}"'),
            crio("10:00:02", f"Pulled image: {APP_PULLED}", extra=PULL_RPC),
            crio("10:00:30", f'Trying to access "{REL_MIRROR2}"'),
            crio("10:00:35", f"Pulled image: {REL}", extra=PULL_RPC),
        ]
    )
    pulls = parse_crio_journal(text)
    assert [(p.image, [(a.location, a.outcome) for a in p.attempts], p.pulled) for p in pulls] == [
        (REL, [(REL_MIRROR1, "unfinished"), (REL_MIRROR2, "served")], REL),
        (APP, [(APP_MIRROR, "served")], APP_PULLED),
    ]


# Concurrent pulls of different repositories with the same tag or digest (kubelet pulls in
# parallel): CRI-O's `Trying to access` lines carry no request id, the repository tells.
UBI = "registry.redhat.io/ubi9/ubi:latest"
UBI_MIRROR = "mirror.corp.example.com/rh/ubi9/ubi:latest"  # registry-scope mirror
UBI_PULLED = "registry.redhat.io/ubi9/ubi@sha256:" + "1" * 64
BAR = "quay.io/foo/bar:latest"
BAR_MIRROR = "mirror.corp.example.com/quay/foo/bar:latest"
BAR_MIRROR2 = "backup.corp.example.com/foo/bar:latest"
BAR_PULLED = "quay.io/foo/bar@sha256:" + "2" * 64


def pulls_by_image(text: str) -> dict[str, tuple[list[tuple[str, str, Optional[str]]], object]]:
    return {
        pull.image: ([(a.location, a.outcome, a.reason) for a in pull.attempts], pull.pulled)
        for pull in parse_crio_journal(text)
    }


def test_crio_concurrent_pulls_same_tag_different_repositories() -> None:
    text = "\n".join(
        [
            crio("10:00:00", f"Pulling image: {UBI}", extra=PULL_RPC),
            crio("10:00:00", f"Pulling image: {BAR}", extra=PULL_RPC),
            crio("10:00:00", f'Trying to access "{UBI_MIRROR}"'),
            crio("10:00:00", f'Trying to access "{BAR_MIRROR}"'),
            crio(
                "10:00:00",
                f'Accessing "{BAR_MIRROR}" failed: reading manifest latest in '
                "mirror.corp.example.com/quay/foo/bar: manifest unknown",
                "debug",
            ),
            crio("10:00:01", f'Trying to access "{BAR_MIRROR2}"'),
            crio(
                "10:00:30",
                f'Accessing "{UBI_MIRROR}" failed: pinging container registry '
                "mirror.corp.example.com: i/o timeout",
                "debug",
            ),
            crio("10:00:30", f'Trying to access "{UBI}"'),
            crio("10:00:31", f"Pulled image: {BAR_PULLED}", extra=PULL_RPC),
            crio("10:00:35", f"Pulled image: {UBI_PULLED}", extra=PULL_RPC),
        ]
    )
    assert pulls_by_image(text) == {
        UBI: ([(UBI_MIRROR, "failed", "timeout"), (UBI, "served", None)], UBI_PULLED),
        BAR: (
            [(BAR_MIRROR, "failed", "manifest-unknown"), (BAR_MIRROR2, "served", None)],
            BAR_PULLED,
        ),
    }
    # the same at info level (no failure lines), the other way round
    info = [line for line in text.splitlines() if "level=debug" not in line]
    info[0], info[1] = info[1], info[0]
    assert pulls_by_image("\n".join(info)) == {
        UBI: ([(UBI_MIRROR, "unfinished", None), (UBI, "served", None)], UBI_PULLED),
        BAR: ([(BAR_MIRROR, "unfinished", None), (BAR_MIRROR2, "served", None)], BAR_PULLED),
    }


def test_crio_concurrent_pulls_same_digest_different_repositories() -> None:
    # The same image pushed to two repositories, pulled by digest at the same time.
    app = "quay.io/team/app@" + DIGEST
    app_mirror = "mirror1.example.com:5000/team/app@" + DIGEST
    tool = "registry.example.com/tools/tool@" + DIGEST
    tool_mirror = "mirror1.example.com:5000/tools/tool@" + DIGEST
    tool_mirror2 = "mirror2.example.com/tools/tool@" + DIGEST
    text = "\n".join(
        [
            crio("10:00:00", f"Pulling image: {app}", extra=PULL_RPC),
            crio("10:00:00", f"Pulling image: {tool}", extra=PULL_RPC),
            crio("10:00:00", f'Trying to access "{tool_mirror}"'),
            crio("10:00:00", f'Trying to access "{app_mirror}"'),
            crio(
                "10:00:00",
                f'Accessing "{tool_mirror}" failed: reading manifest {DIGEST} in '
                "mirror1.example.com:5000/tools/tool: manifest unknown",
                "debug",
            ),
            crio("10:00:01", f'Trying to access "{tool_mirror2}"'),
            crio("10:00:02", f"Pulled image: {app}", extra=PULL_RPC),
            crio(
                "10:00:03",
                f'Accessing "{tool_mirror2}" failed: reading manifest {DIGEST} in '
                "mirror2.example.com/tools/tool: unauthorized: authentication required",
                "debug",
            ),
            crio("10:00:03", f'Trying to access "{tool}"'),
            crio("10:00:04", f"Pulled image: {tool}", extra=PULL_RPC),
        ]
    )
    assert pulls_by_image(text) == {
        app: ([(app_mirror, "served", None)], app),
        tool: (
            [
                (tool_mirror, "failed", "manifest-unknown"),
                (tool_mirror2, "failed", "unauthorized"),
                (tool, "served", None),
            ],
            tool,
        ),
    }
    # parse_pull_log: the last pull decides; the other image is not an earlier round
    result = parse_pull_log(text, exit_code=None)
    assert result.served_by == tool and result.rounds == 1


def test_crio_concurrent_pulls_through_one_mirror_repository() -> None:
    # Two sources mirrored into one repository: the locations are the same, each pull gets
    # one attempt there (the one that has not tried it yet), then its own source.
    one = "quay.io/a/x@" + DIGEST
    two = "quay.io/b/x@" + DIGEST
    shared = "mirror.example.com/x@" + DIGEST
    text = "\n".join(
        [
            crio("10:00:00", f"Pulling image: {one}", extra=PULL_RPC),
            crio("10:00:00", f"Pulling image: {two}", extra=PULL_RPC),
            crio("10:00:00", f'Trying to access "{shared}"'),
            crio("10:00:00", f'Trying to access "{shared}"'),
            crio("10:00:01", f'Trying to access "{two}"'),
            crio("10:00:01", f'Trying to access "{one}"'),
        ]
    )
    assert pulls_by_image(text) == {
        one: ([(shared, "unfinished", None), (one, "unfinished", None)], None),
        two: ([(shared, "unfinished", None), (two, "unfinished", None)], None),
    }


def test_crio_grep_output_same_tag_different_repositories() -> None:
    # `journalctl -u crio | grep 'Trying to access'`: no `Pulling image` lines; a tag attempt
    # continues a pull only when it shares a repository component with it.
    text = "\n".join(
        [
            crio("10:00:00", f'Trying to access "{UBI_MIRROR}"'),
            crio("10:00:00", f'Trying to access "{BAR_MIRROR}"'),
            crio("10:00:01", f'Trying to access "{BAR_MIRROR2}"'),
            crio("10:00:30", f'Trying to access "{UBI}"'),
            crio("10:01:00", f'Trying to access "{UBI_MIRROR}"'),  # a later pull: new
        ]
    )
    pulls = parse_crio_journal(text)
    assert [[a.location for a in pull.attempts] for pull in pulls] == [
        [UBI_MIRROR, UBI],
        [BAR_MIRROR, BAR_MIRROR2],
        [UBI_MIRROR],
    ]


def test_crio_image_from_checking_image_status_without_pulling_line() -> None:
    text = "\n".join(
        [
            crio("10:00:00", f"Checking image status: {APP}", extra=STATUS_RPC),
            crio("10:00:00", f'Trying to access "{APP_MIRROR}"'),
            crio("10:00:01", f"Pulled image: {APP_PULLED}"),
        ]
    )
    assert parse_crio_journal(text) == [
        JournalPull(APP, (Attempt(APP_MIRROR, "served"),), APP_PULLED, "Nov 25 10:00:00")
    ]


def test_crio_other_journal_formats() -> None:
    # -o short-iso, and -o cat (no prefix: the logrus time is used)
    iso = (
        '2024-11-25T10:00:00+0000 node-1 crio[2048]: time="2024-11-25 10:00:00.1Z" '
        f'level=info msg="Trying to access \\"{APP_MIRROR}\\""'
    )
    cat = f'time="2024-11-25 10:00:05.1Z" level=info msg="Pulling image: {REL}"'
    pulls = parse_crio_journal(iso + "\n" + cat)
    assert [(p.image, p.time) for p in pulls] == [
        (APP_MIRROR, "2024-11-25T10:00:00+0000"),
        (REL, "2024-11-25 10:00:05.1Z"),
    ]
    # logrus JSON formatter
    json_line = (
        '{"level":"info","msg":"Trying to access \\"' + APP_MIRROR + '\\"",'
        '"time":"2024-11-25T10:00:00Z"}'
    )
    (pull,) = parse_crio_journal(json_line)
    assert pull.attempts == (Attempt(APP_MIRROR, "unfinished"),)
    assert pull.time == "2024-11-25T10:00:00Z"


def test_crio_journal_mixed_with_other_units_and_noise() -> None:
    text = "\n".join(
        [
            "Nov 25 10:00:00 node-1 kubenswrapper[1500]: I1125 10:00:00.1 1500 event.go:307] "
            '"Pulling image \\"quay.io/x:v1\\""',
            "-- Boot 1a2b3c --",
            crio("10:00:01", f"Pulling image: {APP}", extra=PULL_RPC),
            crio("10:00:01", f'Trying to access "{APP_MIRROR}"'),
            "Nov 25 10:00:01 node-1 systemd[1]: Started crio-conmon-abc.scope.",
            crio("10:00:02", f"Pulled image: {APP_PULLED}", extra=PULL_RPC),
        ]
    )
    (pull,) = parse_crio_journal(text)
    assert pull.image == APP
    assert pull.attempts == (Attempt(APP_MIRROR, "served"),)


def test_podman_fixtures_as_journals() -> None:
    # parse_crio_journal accepts any log: a podman log is one pull without `Pulled image`
    (pull,) = parse_crio_journal(read_fixture("first-mirror-down.log"))
    assert [(a.location, a.outcome) for a in pull.attempts] == [
        (loc(5109, "mirror/hello"), "failed"),
        (loc(5103, "mirror/hello"), "unfinished"),
    ]
    assert pull.time == "2026-11-25T20:26:46Z"


# --------------------------------------------------------------------------------------
# robustness and speed


def check_invariants(result: PullLog) -> None:
    assert result.tool in ("podman", "skopeo", "crio", "unknown")
    assert result.rounds == len(result.earlier_rounds) + 1 >= 1
    for attempts in (result.attempts, *result.earlier_rounds):
        for attempt in attempts:
            assert attempt.outcome in ("failed", "served", "hung", "unfinished")
            if attempt.outcome == "failed":
                assert attempt.reason in REASONS and attempt.message is not None
            else:
                assert attempt.reason is None and attempt.message is None
    served = [a.location for a in result.attempts if a.outcome == "served"]
    assert result.served_by == (served[0] if served else None)
    assert len(served) <= 1
    if result.attempts:
        assert all(a.outcome == "failed" or a.outcome == "unfinished" for a in result.attempts[:-1])


FRAGMENTS = [
    'Trying to access "',
    'Accessing "',
    '" failed: ',
    'time="2024-01-01T00:00:00Z" ',
    "level=debug ",
    "level=fatal ",
    "DEBU[0000] ",
    "FATA[0001] ",
    "\x1b[37m",
    "\x1b[0m",
    'msg="',
    '\\"',
    "\\",
    "\\n",
    '"',
    "\n",
    "\r",
    "Error: ",
    "(Mirrors also failed: [",
    "]\n[",
    "]): ",
    ": ",
    "Failed, retrying in 1s ... (1/3). Error: ",
    "Pulling image: ",
    "Pulled image: ",
    "Checking image status: ",
    "Nov 25 10:00:00 node crio[1]: ",
    "Received shutdown signal",
    'Loading registries configuration "',
    "quay.io/a/b@sha256:abc",
    "h/r:v1",
    "{",
    '{"msg":',
    "}",
    "[" * 50,
    "\\U0010ffff\\UFFFFFFFF\\xff\\ud800\\777",
    "\x00",
    "é",
    "x509",
    "lookup ",
    "https://u:p@h",
    "Authorization: Bearer ",
    " ",
]


def test_garbage_never_raises() -> None:
    rng = random.Random(20261125)
    for _ in range(3000):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 40)))
        for exit_code, killed in ((None, False), (0, False), (125, True)):
            check_invariants(parse_pull_log(text, exit_code=exit_code, killed=killed))
        for pull in parse_crio_journal(text):
            assert isinstance(pull, JournalPull)
        assert classify_failure(text) in REASONS
        assert isinstance(redact(text), str)
        assert isinstance(parse_error_sources(text), tuple)
    raw = bytes(rng.randrange(256) for _ in range(20000)).decode("latin-1")
    check_invariants(parse_pull_log(raw, exit_code=None))
    deep_json = '{"msg": "Trying to access", "x": ' + "[" * 100000 + "]" * 100000 + "}"
    check_invariants(parse_pull_log(deep_json, exit_code=None))


def test_results_are_frozen_and_hashable() -> None:
    result = parse_fixture("all-fail.log")
    hash(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rounds = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.attempts[0].outcome = "served"  # type: ignore[misc]


def test_a_large_log_still_yields_the_last_round() -> None:
    # Speed is measured by bench/log_parse.py, not asserted here.
    one_round = read_fixture("all-fail-source-unreachable.log")
    noise = read_fixture("mirror-401.log")
    text = noise * (5_000_000 // len(noise)) + one_round * (5_000_000 // len(one_round))
    assert len(text) > 9_000_000
    result = parse_pull_log(text, exit_code=125)
    assert result.attempts == parse_fixture("all-fail-source-unreachable.log").attempts
    check_invariants(parse_pull_log("Trying to access " * 600_000, exit_code=None))
    check_invariants(
        parse_pull_log(
            'level=info msg="Accessing \\"a/b\\" failed: ' + "]): a/b: " * 1_000_000, exit_code=1
        )
    )


LOG_PACKAGE = Path(__file__).resolve().parents[2] / "agent" / "pull" / "log"


@pytest.mark.parametrize("module", sorted(p.name for p in LOG_PACKAGE.glob("*.py")))
def test_log_modules_are_pure(module: str) -> None:
    stdlib: set[str] = set()
    for node in ast.walk(ast.parse((LOG_PACKAGE / module).read_text())):
        if isinstance(node, ast.Import):
            stdlib.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("agent."):
                assert node.module.startswith("agent.pull.log."), node.module
            else:
                stdlib.add(node.module.split(".")[0])
    assert stdlib <= {"__future__", "collections", "dataclasses", "json", "re", "typing"}
