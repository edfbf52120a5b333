"""The recorded podman 4.3 / skopeo 1.9 logs in tests/data/fixtures, and what each must give.

The expectations are written out by hand from the table in tests/data/fixtures/README.md
("What a parser should conclude"), in its own terms (``5109 mirror/hello refused``); they
are not derived from the parser's output.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from agent.pull.log.model import PullLog
from agent.pull.log.podman import parse_pull_log
from tests.support.data import FIXTURES, require

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


def fixture_names() -> list[str]:
    return sorted(path.name for path in require(PODMAN_43).glob("*.log"))


# What the README's words mean: (outcome, reason, how the failure message ends).
RESULTS: dict[str, tuple[str, Optional[str], Optional[str]]] = {
    "served": ("served", None, None),
    "hung": ("hung", None, None),
    "refused": ("failed", "connection-refused", "connect: connection refused"),
    "unknown": ("failed", "manifest-unknown", "manifest unknown: manifest unknown"),
    "unauthorized": ("failed", "unauthorized", "unauthorized: authentication required"),
    "denied": ("failed", "forbidden", "/mirror/hello: denied"),
    "ping-403": ("failed", "forbidden", "invalid status code from registry 403 (Forbidden)"),
    "untrusted-ca": ("failed", "tls", "x509: certificate signed by unknown authority"),
    "http-to-https": (
        "failed",
        "http-to-https",
        "http: server gave HTTP response to HTTPS client",
    ),
    "no-such-host": ("failed", "dns", "lookup mirror.invalid on 192.0.2.53:53: no such host"),
    "connect-timeout": ("failed", "timeout", "dial tcp 127.0.0.1:5111: i/o timeout"),
    "blocked": (
        "failed",
        "blocked",
        "is blocked in /etc/containers/registries.conf"
        " or /root/.config/containers/registries.conf.d",
    ),
}
# (location, outcome, reason, how the failure message ends)
Row = tuple[str, str, Optional[str], Optional[str]]


def tried(sources: str) -> tuple[Row, ...]:
    """``"5109 mirror/hello refused; 5103 mirror/hello served"`` as rows: a port on 127.0.0.1
    (or a host:port), the repository path (with ``:tag``, else ``@D``) and a word of RESULTS."""
    rows = []
    for source in sources.split(";"):
        where, path, result = source.split()
        ref = "" if ":" in path else "@" + D
        host = f"127.0.0.1:{where}" if where.isdigit() else where
        rows.append((f"{host}/{path}{ref}", *RESULTS[result]))
    return tuple(rows)


@dataclasses.dataclass(frozen=True)
class Expected:
    rc: int
    attempts: tuple[Row, ...]
    tool: str = "podman"
    rounds: int = 1  # earlier rounds are identical to the last
    killed: bool = False
    shutdown: bool = False
    final_error: Optional[str] = None  # a fragment of it; None: no final error
    error_lines: Optional[int] = None
    names_the_sources: bool = False  # final_error_sources: every attempt, in order

    @property
    def served_by(self) -> Optional[str]:
        return next((row[0] for row in self.attempts if row[1] == "served"), None)


def expect(rc: int, sources: str, **details: Any) -> Expected:
    return Expected(rc, tried(sources), **details)


def fails(rc: int, sources: str, error: str, lines: int, **details: Any) -> Expected:
    """A pull that failed with ``error`` in a final error of ``lines`` lines."""
    return expect(rc, sources, final_error=error, error_lines=lines, **details)


EXPECTED: dict[str, Expected] = {
    "first-mirror-down.log": expect(0, "5109 mirror/hello refused; 5103 mirror/hello served"),
    "mirror-missing-digest.log": expect(0, "5102 mirror/hello unknown; 5103 mirror/hello served"),
    "mirrors-fail-source-serves.log": expect(
        0, "5109 mirror/hello refused; 5102 mirror/hello unknown; 5101 src/hello served"
    ),
    "all-fail.log": fails(
        125,
        "5109 mirror/gone refused; 5104 mirror/gone unauthorized; 5102 mirror/gone unknown;"
        "5101 src/gone unknown",
        "Error: initializing source docker://127.0.0.1:5101/src/gone@",
        3,
        names_the_sources=True,
    ),
    "all-fail-source-unreachable.log": fails(
        125,
        "5109 mirror/hello refused; 5102 mirror/hello unknown; 5108 src/hello refused",
        "(Mirrors also failed: [127.0.0.1:5109/mirror/hello@",
        2,
        rounds=4,
        names_the_sources=True,
    ),
    "tag-digest-only-mirror-skipped.log": expect(0, "5101 src/hello:v1 served"),
    "tag-digest-only-source-down.log": fails(
        125,
        "5108 src/hello:v1 refused",
        "Error: initializing source docker://127.0.0.1:5108/src/hello:v1: pinging",
        1,
        rounds=4,
        names_the_sources=True,
    ),
    "mirror-401.log": expect(0, "5104 mirror/hello unauthorized; 5103 mirror/hello served"),
    "mirror-403.log": expect(0, "5110 mirror/hello denied; 5103 mirror/hello served"),
    "mirror-403-ping.log": expect(0, "5106 mirror/hello ping-403; 5103 mirror/hello served"),
    "mirror-tls-errors.log": expect(
        0,
        "5105 mirror/hello untrusted-ca; 5102 mirror/hello http-to-https;5103 mirror/hello served",
    ),
    "mirror-dns-failure.log": expect(
        0, "mirror.invalid:5000 mirror/hello no-such-host; 5103 mirror/hello served"
    ),
    "mirror-connect-timeout.log": expect(
        0, "5111 mirror/hello connect-timeout; 5103 mirror/hello served"
    ),
    "mirror-hang.log": expect(124, "5107 mirror/hello hung", killed=True, shutdown=True),
    "idms-digest-only-tag.log": expect(0, "5101 src/hello:v1 served"),
    "itms-tag-only-tag.log": expect(0, "5103 mirror/hello:v1 served"),
    "itms-tag-only-digest.log": expect(0, "5101 src/hello served"),
    "blocked-mirror-serves.log": expect(0, "5103 mirror/hello served"),
    "blocked-mirrors-fail.log": fails(
        125,
        "5109 mirror/hello refused; 5102 mirror/hello unknown; 5101 src/hello blocked",
        "(Mirrors also failed: ",
        2,
        names_the_sources=True,
    ),
    "blocked-no-mirrors.log": fails(
        125,
        "5101 src/hello blocked",
        "registry 127.0.0.1:5101/src/hello is blocked in",
        1,
        names_the_sources=True,
    ),
    "blocked-tag.log": fails(
        125,
        "5101 src/hello:v1 blocked",
        "registry 127.0.0.1:5101/src/hello is blocked in",
        1,
        names_the_sources=True,
    ),
    "longest-prefix.log": expect(0, "5102 mirror/hello unknown; 5101 src/hello served"),
    "registry-scope-rewrite.log": fails(
        125,
        "5103 mirror/src/other unknown; 5101 src/other unknown",
        "(Mirrors also failed: [127.0.0.1:5103/mirror/src/other@",
        1,
        names_the_sources=True,
    ),
    "already-present.log": expect(0, "5103 mirror/hello served"),
    "skopeo-inspect-raw-mirror-missing-digest.log": expect(
        0, "5102 mirror/hello unknown; 5103 mirror/hello served", tool="skopeo"
    ),
    "skopeo-inspect-raw-all-fail.log": fails(
        1,
        "5109 mirror/gone refused; 5104 mirror/gone unauthorized; 5102 mirror/gone unknown;"
        "5101 src/gone unknown",
        'Error parsing image name "docker://127.0.0.1:5101/src/gone@',
        3,  # the literal \n of logrus turned into real newlines
        tool="skopeo",
        names_the_sources=True,
    ),
    "skopeo-inspect-raw-blocked-mirrors-fail.log": fails(
        1,
        "5109 mirror/hello refused; 5102 mirror/hello unknown; 5101 src/hello blocked",
        'Error parsing image name "docker://127.0.0.1:5101/src/hello@',
        2,
        tool="skopeo",
        names_the_sources=True,
    ),
    # the manifest came from 5103; only the tag listing (source 5108) failed
    "skopeo-inspect-tags-source-down.log": fails(
        1,
        "5103 mirror/hello served",
        "Error determining repository tags: pinging container registry 127.0.0.1:5108",
        1,
        tool="skopeo",
    ),
    "skopeo-inspect-notags-source-down.log": expect(0, "5103 mirror/hello served", tool="skopeo"),
}


def parse_fixture(name: str, text: Optional[str] = None) -> PullLog:
    """The fixture ``name`` (or ``text``, another form of it) parsed with its exit status."""
    expected = EXPECTED[name]
    log = read_fixture(name) if text is None else text
    return parse_pull_log(log, exit_code=expected.rc, killed=expected.killed)


def check_expected(result: PullLog, expected: Expected) -> None:
    """``result`` says everything the README says of the fixture."""
    got = [(a.location, a.outcome, a.reason) for a in result.attempts]
    assert got == [
        (location, outcome, reason) for location, outcome, reason, _ in expected.attempts
    ]
    for attempt, (*_, ending) in zip(result.attempts, expected.attempts):
        if ending is None:
            assert attempt.message is None
        else:
            assert attempt.message is not None and attempt.message.endswith(ending)
            assert '\\"' not in attempt.message  # unescaped
    assert result.served_by == expected.served_by
    assert result.tool == expected.tool
    assert result.rounds == expected.rounds
    assert result.earlier_rounds == (result.attempts,) * (expected.rounds - 1)
    assert result.shutdown is expected.shutdown
    assert result.config_files == CONFIG_FILES

    if expected.final_error is None:
        assert result.final_error is None
    else:
        assert result.final_error is not None
        assert expected.final_error in result.final_error
        if expected.tool == "podman":
            assert result.final_error.startswith("Error: ")
        assert result.final_error.count("\n") + 1 == expected.error_lines
        assert "\\n" not in result.final_error and '\\"' not in result.final_error

    sources = [location for location, *_ in expected.attempts] if expected.names_the_sources else []
    assert [ref for ref, _ in result.final_error_sources] == sources
    # Cross-check: each source's error in the final error is what its attempt logged.
    messages = {a.location: a.message for a in result.attempts}
    for ref, error in result.final_error_sources:
        assert messages[ref] == error
