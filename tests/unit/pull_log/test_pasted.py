"""What pasting does to a log (agent.pull.log.decor), attempts read from error texts
(agent.pull.log.inferred), the new failure classes, and one log holding several pulls
(agent.pull.log.pulls)."""

from __future__ import annotations

from typing import Optional

import pytest

from agent.pull.log.classify import classify_failure, retry_after
from agent.pull.log.decor import CUT_MARK, undecorate
from agent.pull.log.inferred import error_attempts, qualified
from agent.pull.log.podman import parse_pull_log
from agent.pull.log.pulls import parse_pulls, same_image
from tests.unit.pull_log.recorded import D
from tests.unit.pull_log.synthetic import MIRROR, QUAY, logrus

H = "registry.example.com"


@pytest.mark.parametrize(
    ("line", "text", "time", "ident"),
    [
        ("Nov 25 10:00:00 node-1 podman[12]: Error: x", "Error: x", "Nov 25 10:00:00", "podman"),
        ("Nov  5 10:00:00.123456 node-1 podman[12]: Error: x", "Error: x", None, "podman"),
        ("déc. 02 09:14:07 w-2 podman[88]: Error: x", "Error: x", "déc. 02 09:14:07", "podman"),
        ("Dez 02 08:15:01 worker-1 crio[2171]: a", "a", "Dez 02 08:15:01", "crio"),
        ("12月 02 08:15:01 worker-1 crio[2171]: a", "a", "12月 02 08:15:01", "crio"),
        ("2026-12-02T08:15:01+0100 w bootkube.sh[2345]: a", "a", "2026-12-02T08:15:01+0100", None),
        ("Wed 2026-12-02 08:15:01 UTC w systemd[1]: a", "a", "Wed 2026-12-02 08:15:01 UTC", None),
        ("1733130901.118394 w kubenswrapper[2291]: a", "a", "1733130901.118394", None),
        ("[ 1234.567890] w podman[12]: a", "a", "[ 1234.567890]", "podman"),
        ("    Error: indented in an article", "Error: indented in an article", None, None),
        ("> > Error: quoted twice", "Error: quoted twice", None, None),
        ("Error: not a journal line", "Error: not a journal line", None, None),
    ],
)
def test_journal_prefixes_and_quoting_come_off(
    line: str, text: str, time: Optional[str], ident: Optional[str]
) -> None:
    pasted = undecorate(line)
    assert pasted.text == text
    if time is not None:
        assert pasted.time == time
    if ident is not None:
        assert pasted.ident == ident
    assert not pasted.cut


@pytest.mark.parametrize(
    ("line", "cut"),
    [
        ("Nov 25 10:00:00 n podman[1]: Error: a: connection ref>", True),  # less -S
        ("Nov 25 10:00:00 n podman[1]: Error: a: connection ref…", True),  # systemctl status
        ("Error: a: connection ref…", True),  # the ellipsis marks a cut anywhere
        ("Error: a: <html>", False),  # no journal prefix: `>` is the text's
        ('Nov 25 10:00:00 n podman[1]: Error: body "<title>404</title></html>', False),
        ("Nov 25 10:00:00 n podman[1]: Trying to pull quay.io/a/b:1...", False),
        ("Nov 25 10:00:00 n sh[1]: Pull failed. Retrying quay.io/a/b:1...", False),
        (
            "Nov 25 10:00:00 n podman[1]: Error: a: lookup quay.io on 10.0.0.1:53: no such ho...",
            True,
        ),
    ],
)
def test_cut_lines_end_with_the_cut_mark(line: str, cut: bool) -> None:
    pasted = undecorate(line)
    assert pasted.cut is cut
    assert pasted.text.endswith(CUT_MARK) is cut


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        # the registry ping answered 404: no registry there (not a missing manifest)
        (
            f"pinging container registry {H}: invalid status code from registry 404 (Not Found)",
            "not-a-registry",
        ),
        (
            f"error pinging docker registry {H}: invalid status code from registry 404 (Not Found)",
            "not-a-registry",
        ),
        (
            f"pinging container registry {H}: received unexpected HTTP status: 404 Not Found",
            "not-a-registry",
        ),
        (
            f'pinging container registry {H}: StatusCode: 404, "<!DOCTYPE html>\\n<html..."',
            "not-a-registry",
        ),
        (
            f"pinging container registry {H}: can't talk to a V1 container registry",
            "not-a-registry",
        ),
        # …while a 404 on the manifest is a missing manifest
        (
            f"reading manifest {D} in {H}/r: received unexpected HTTP status: 404 Not Found",
            "manifest-unknown",
        ),
        (
            f'reading manifest v1 in {H}/r: StatusCode: 404, "<html><body>Not Found..."',
            "manifest-unknown",
        ),
        (
            f"reading manifest 2.1 in {H}/library/tools: unknown: artifact library/tools:2.1 not "
            "found",
            "manifest-unknown",
        ),
        (
            f"Error reading manifest latest in {H}/r: error parsing HTTP 404 response body: "
            "invalid character '<' looking for beginning of value",
            "manifest-unknown",
        ),
        # 429
        (
            "reading manifest latest in docker.io/library/x: toomanyrequests: You have reached "
            "your pull rate limit. You may increase the limit by authenticating and upgrading: "
            "https://www.docker.com/increase-rate-limit",
            "rate-limited",
        ),
        (f"pinging container registry {H}: too many requests to registry", "rate-limited"),
        (
            f"reading manifest v1 in {H}/r: received unexpected HTTP status: 429 Too Many Requests",
            "rate-limited",
        ),
        # no reason shown
        ("   ", "unknown"),
        (f'pinging container registry {H}: Get "https://{H}/v2/": dial tcp 52.…', "unknown"),
        (
            f'pinging container registry {H}: Get "https://{H}/v2/": dial tcp 10.0.0.1:443: '
            f"i/o tim{CUT_MARK}",
            "unknown",
        ),
        # a cut text still says what it shows
        (f"pinging container registry {H}: x509: certificate signed by unkno{CUT_MARK}", "tls"),
        # the token endpoint: 403 is a refusal, a 404 says nothing about the manifest
        ("Requesting bearer token: invalid status code from registry 403 (Forbidden)", "forbidden"),
        ("Requesting bearer token: invalid status code from registry 404 (Not Found)", "other"),
        # 5xx stays other
        (
            f"reading manifest v1 in {H}/r: received unexpected HTTP status: 502 Bad Gateway",
            "other",
        ),
    ],
)
def test_new_failure_classes(message: str, reason: str) -> None:
    assert classify_failure(message) == reason


def test_retry_after_is_read_when_shown() -> None:
    assert retry_after("toomanyrequests: slow down (Retry-After: 120)") == "120"
    assert retry_after("too many requests to registry") is None


@pytest.mark.parametrize(
    ("shown", "full"),
    [
        ("docker://busybox:latest", "docker.io/library/busybox:latest"),
        ("docker://splunk/scs:latest", "docker.io/splunk/scs:latest"),
        ("splunk/scs@sha256:" + "a" * 64, "docker.io/splunk/scs@sha256:" + "a" * 64),
        ("docker://quay.io/a/b:1", "quay.io/a/b:1"),
        ("localhost/x:1", "localhost/x:1"),
        ("mirror:5000/x:1", "mirror:5000/x:1"),
    ],
)
def test_docker_display_names_are_docker_io_references(shown: str, full: str) -> None:
    assert qualified(shown) == full


def _rows(error: str, image: Optional[str] = None) -> list[tuple[str, str, Optional[str]]]:
    return [(a.location, a.outcome, a.reason) for a in error_attempts(error, image)]


def test_attempts_from_a_mirrors_also_failed_error() -> None:
    error = (
        f"Error: initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: "
        "pinging container registry mirror.example.com:5000: invalid status code from registry "
        f"404 (Not Found)]\n[backup.example.com/team/app@{D}: reading manifest {D} in "
        f"backup.example.com/team/app: manifest unknown]): {QUAY}: reading manifest {D} in "
        "quay.io/team/app: toomanyrequests: slow down"
    )
    assert _rows(error) == [
        (MIRROR, "failed", "not-a-registry"),
        (f"backup.example.com/team/app@{D}", "failed", "manifest-unknown"),
        (QUAY, "failed", "rate-limited"),
    ]


def test_attempts_from_a_cut_error_keep_what_it_shows() -> None:
    cut = (
        f"Error: initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: "
        f'pinging container registry mirror.example.com:5000: Get "https://mirror.example.co{CUT_MARK}'
    )
    assert _rows(cut) == [(MIRROR, "failed", "unknown")]


def test_one_candidate_is_the_physical_repository_the_error_names() -> None:
    # c/image returns a single candidate's error unchanged: `reading manifest T in R` names it
    error = (
        "Error: initializing source docker://fallenbagel/jellyseerr:latest: reading manifest "
        "latest in mirror.gcr.io/fallenbagel/jellyseerr: manifest unknown"
    )
    assert _rows(error) == [
        ("mirror.gcr.io/fallenbagel/jellyseerr:latest", "failed", "manifest-unknown")
    ]
    ping = "rpc error: code = Unknown desc = pinging container registry quay.io: i/o timeout"
    assert _rows(ping, "quay.io/a/b:1") == [("quay.io/a/b:1", "failed", "timeout")]
    assert _rows(ping) == []  # no image known, no source named
    blob = "rpc error: code = Unknown desc = reading blob sha256:aa: fetching blob: blob unknown"
    assert _rows(blob, "quay.io/a/b:1") == []  # a later step, not a source that refused


def test_non_debug_podman_without_debug_lines_is_inferred_by_parse_pull_log() -> None:
    text = "\n".join(
        [
            f"Trying to pull {QUAY}...",
            f"Error: initializing source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: "
            f"reading manifest {D} in mirror.example.com:5000/team/app: manifest unknown]): "
            f"{QUAY}: reading manifest {D} in quay.io/team/app: unauthorized: authentication "
            "required",
        ]
    )
    log = parse_pull_log(text, exit_code=125)
    assert log.attempts_inferred
    assert [(a.location, a.reason) for a in log.attempts] == [
        (MIRROR, "manifest-unknown"),
        (QUAY, "unauthorized"),
    ]
    assert log.final_error_sources == (
        (MIRROR, log.attempts[0].message),
        (QUAY, log.attempts[1].message),
    )


def test_an_orphan_failure_line_is_an_attempt_only_before_any_trying_line() -> None:
    begins_mid_pull = "\n".join(
        [
            logrus(f'Accessing "{MIRROR}" failed: reading manifest x in y: manifest unknown'),
            logrus(f'Trying to access "{QUAY}"'),
        ]
    )
    log = parse_pull_log(begins_mid_pull, exit_code=0)
    assert [(a.location, a.outcome) for a in log.attempts] == [(MIRROR, "failed"), (QUAY, "served")]


def test_retry_warnings_give_the_earlier_rounds_their_attempts() -> None:
    error = f"initializing source docker://{QUAY}: pinging container registry quay.io: i/o timeout"
    text = "\n".join(
        [
            logrus(f"Failed, retrying in 1s ... (1/3). Error: {error}", "warning"),
            logrus(f"Failed, retrying in 1s ... (2/3). Error: {error}", "warning"),
        ]
    )
    (pull,) = parse_pulls(text)
    # The third round is not in the excerpt: the last round shown is the one to show (its
    # attempts read from the warning's error text), and the pull went on unseen.
    assert pull.rounds == 2 and pull.attempts_inferred and pull.retry_pending
    assert [[a.reason for a in round_] for round_ in pull.earlier_rounds] == [["timeout"]]
    assert [(a.location, a.outcome, a.reason) for a in pull.attempts] == [
        (QUAY, "failed", "timeout")
    ]
    # a final error, or a round that shows something after the warning, decides instead
    for end in (f"Error: {error}", logrus(f'Trying to access "{QUAY}"')):
        (pull,) = parse_pulls(text + "\n" + end)
        assert pull.rounds == 3 and not pull.retry_pending


def test_one_pull_per_image_and_debug_announcements_merge() -> None:
    text = "\n".join(
        [
            logrus(f"Pulling image {QUAY} (policy: always)"),
            f"Trying to pull {QUAY}...",
            logrus(f'Trying to access "{QUAY}"'),
            "Writing manifest to image destination",
            "a" * 64,
            f"Trying to pull {H}/other:1...",
            f"Trying to pull {H}/third:1...",
        ]
    )
    pulls = parse_pulls(text)
    assert [(p.image, p.completed) for p in pulls] == [
        (QUAY, True),
        (f"{H}/other:1", False),
        (f"{H}/third:1", False),
    ]
    assert pulls[0].served_by == QUAY  # the pull finished: its last attempt served it


def test_an_excerpt_ending_before_the_manifest_is_unfinished_not_served() -> None:
    text = "\n".join([logrus(f'Trying to access "{MIRROR}"'), logrus("GET https://m/v2/")])
    for tool_line in ("", logrus('Loading registries configuration "/etc/x"')):
        (pull,) = parse_pulls(tool_line + "\n" + text)
        assert [a.outcome for a in pull.attempts] == ["unfinished"]
        assert pull.served_by is None and not pull.manifest_read


def test_same_image() -> None:
    assert same_image("docker://busybox", "docker.io/library/busybox:latest")
    assert not same_image("quay.io/a/b:1", "quay.io/a/b:2")


PASTED_FRAGMENTS = [
    "Trying to pull quay.io/a/b:1...",
    "Pull failed. Retrying quay.io/a/b:1...",
    'Failed to pull image "quay.io/a/b:1": ',
    'Failed to pull image \\"q/a:1\\": ',
    '"PullImage from image service failed" err="',
    ' image="quay.io/a/b:1"',
    "rpc error: code = Unknown desc = ",
    "Error: 2 errors occurred:\n * initializing source docker://a/b:1: ",
    "initializing source docker://busybox: ",
    "reading manifest latest in quay.io/a/b: ",
    "pinging container registry h: invalid status code from registry 404 (Not Found)",
    "toomanyrequests: ",
    CUT_MARK,
    ">",
    "> ",
    "    ",
    "Dez 02 08:15:01 w podman[1]: ",
    "[ 12.5] w crio[1]: ",
    "[core@w ~]$ ",
    "exit code: 125",
    "Getting image source signatures",
    "Copying blob sha256:aa",
    "Writing manifest to image destination",
    "a" * 64,
    '{"schemaVersion":2}',
    logrus("Pulling image quay.io/a/b:1 (policy: always)"),
    logrus('Trying to access "quay.io/a/b:1"'),
    logrus('Accessing "quay.io/a/b:1" failed: x'),
    logrus(
        "Failed, retrying in 1s ... (1/3). Error: initializing source docker://q/a:1: y", "warning"
    ),
    "\n",
    "\r\n",
    "]): ",
    "(Mirrors also failed: [",
    "]\n[",
]


def test_pasted_garbage_never_raises() -> None:
    import random

    from tests.unit.pull_log.test_robustness import FRAGMENTS, check_invariants

    rng = random.Random(20261202)
    fragments = FRAGMENTS + PASTED_FRAGMENTS
    for _ in range(2000):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(0, 40)))
        for exit_code in (None, 0, 125):
            for pull in parse_pulls(text, exit_code=exit_code):
                check_invariants(pull)
                if pull.attempts_inferred:
                    assert all(a.outcome == "failed" for a in pull.attempts)
        undecorate(text)


def test_many_pulls_stay_linear() -> None:
    """5 000 kubelet events of different images and 5 000 short-name items: a quadratic
    pass would not finish in a test run (speed itself is for bench/)."""
    events = "\n".join(
        f'Failed to pull image "quay.io/team/app{n}:1": rpc error: code = Unknown desc = '
        f"reading manifest 1 in quay.io/team/app{n}: manifest unknown"
        for n in range(5_000)
    )
    pulls = parse_pulls(events)
    assert len(pulls) == 5_000 and pulls[-1].attempts[0].reason == "manifest-unknown"
    items = "\n".join(
        [f"Trying to pull h.io/c{n}:1..." for n in range(5_000)]
        + ["Error: 5000 errors occurred while pulling:"]
        + [
            f" * initializing source docker://h.io/c{n}:1: reading manifest 1 in h.io/c{n}: "
            "manifest unknown"
            for n in range(5_000)
        ]
    )
    (pull,) = parse_pulls(items)  # one pull whose candidates the error names, in order
    assert len(pull.candidates) == len(pull.attempts) == 5_000


def test_short_name_candidates_under_one_error_are_one_pull() -> None:
    names = ["registry.fedoraproject.org/foo:latest", "docker.io/library/foo:latest"]
    error = ["Error: 2 errors occurred while pulling:"] + [
        f" * initializing source docker://{name}: reading manifest latest in "
        f"{name.rsplit(':', 1)[0]}: manifest unknown"
        for name in names
    ]
    text = "\n".join([f"Trying to pull {name}..." for name in names] + error)
    (pull,) = parse_pulls(text)
    assert (pull.image, pull.candidates) == ("foo:latest", tuple(names))
    assert [(a.location, a.reason) for a in pull.attempts] == [
        (names[0], "manifest-unknown"),
        (names[1], "manifest-unknown"),
    ]
    (pull,) = parse_pulls('Resolved "foo" as an alias (/etc/x.conf)\n' + text)
    assert pull.image == "foo"
    # candidates the error does not name in their order are separate pulls
    shuffled = "\n".join([f"Trying to pull {name}..." for name in reversed(names)] + error)
    assert [p.image for p in parse_pulls(shuffled)] == list(reversed(names))


def test_a_terminal_retry_warning_spanning_lines_gives_its_round() -> None:
    text = "\n".join(
        [
            f"Trying to pull {QUAY}...",
            f"\x1b[33mWARN\x1b[0m[0031] Failed, retrying in 1s ... (1/3). Error: initializing "
            f"source docker://{QUAY}: (Mirrors also failed: [{MIRROR}: dial tcp 10.0.0.1:5000: "
            "connect: connection refused]",
            f"[backup.example.com/team/app@{D}: manifest unknown]): {QUAY}: dial tcp: lookup "
            "quay.io: no such host ",
            f"Error: initializing source docker://{QUAY}: pinging container registry quay.io: "
            "dial tcp: lookup quay.io: no such host",
        ]
    )
    (pull,) = parse_pulls(text)
    assert [[a.reason for a in round_] for round_ in pull.earlier_rounds] == [
        ["connection-refused", "manifest-unknown", "dns"]
    ]
    assert [(a.location, a.reason) for a in pull.attempts] == [(QUAY, "dns")]


@pytest.mark.parametrize(
    "digest", ["sha256:" + "ab" * 32, "sha384:" + "ab" * 48, "sha512:" + "ab" * 64]
)
def test_skopeo_inspect_json_shows_the_manifest_read_whatever_the_digest(digest: str) -> None:
    text = "\n".join(
        [
            logrus(f'Trying to access "{H}/ocp/release@{digest}"'),
            "{",
            f'    "Name": "{H}/ocp/release",',
            f'    "Digest": "{digest}",',
            "}",
        ]
    )
    (pull,) = parse_pulls(text)
    assert pull.completed and pull.served_by == f"{H}/ocp/release@{digest}"
    (pull,) = parse_pulls(text.replace(digest, "sha512:" + "ab" * 32))  # no valid digest
    assert not pull.completed and pull.served_by is None


def _journal(pid: int, lines: list[str]) -> list[str]:
    return [f"Mar 01 10:00:00 bastion mirror.sh[{pid}]: {line}" for line in lines]


def test_two_runs_in_one_journal_are_two_pulls() -> None:
    config = logrus('Loading registries configuration "/etc/containers/registries.conf"')
    first = [
        config,
        logrus(f'Trying to access "{MIRROR}"'),
        logrus(f'Accessing "{MIRROR}" failed: reading manifest x in y: manifest unknown'),
        logrus(f'Trying to access "{QUAY}"'),
        "Getting image source signatures",
        "Copying blob sha256:aaaa",
        "Writing manifest to image destination",
    ]
    second = [config, logrus(f'Trying to access "{MIRROR}"')]
    for text in (
        "\n".join(_journal(900, first) + _journal(901, second)),  # a new PID
        "\n".join(first + second),  # a new `Loading registries configuration`
        "\n".join(_journal(900, first) + _journal(901, second[1:])),  # PID only
    ):
        one, two = parse_pulls(text)
        assert [(a.location, a.outcome) for a in one.attempts] == [
            (MIRROR, "failed"),
            (QUAY, "served"),
        ]
        assert one.completed
        assert [(a.location, a.outcome) for a in two.attempts] == [(MIRROR, "unfinished")]
        assert two.served_by is None and not two.manifest_read


def test_the_attempt_open_when_the_manifest_was_read_served_it() -> None:
    text = "\n".join(
        [
            logrus(f'Trying to access "{QUAY}"'),
            "Copying blob sha256:aaaa",
            logrus(f'Trying to access "{MIRROR}"'),  # not the one that served the manifest
        ]
    )
    (pull,) = parse_pulls(text)
    assert [(a.location, a.outcome) for a in pull.attempts] == [
        (QUAY, "served"),
        (MIRROR, "unfinished"),
    ]
    assert pull.served_by == QUAY


def test_a_shell_prompt_running_the_tool_again_starts_a_new_pull() -> None:
    first = [
        logrus(f'Trying to access "{MIRROR}"'),
        "Copying blob sha256:aaaa",
        "Writing manifest to image destination",
    ]
    second = [logrus(f'Trying to access "{MIRROR}"')]
    for prompt in (f"[root@n ~]# podman --log-level=debug pull {QUAY}", "$ sudo skopeo inspect x"):
        one, two = parse_pulls("\n".join([*first, prompt, *second]))
        assert [a.outcome for a in one.attempts] == ["served"] and one.completed
        assert [a.outcome for a in two.attempts] == ["unfinished"] and two.served_by is None
