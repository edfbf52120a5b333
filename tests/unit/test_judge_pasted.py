"""The judge on what pasted logs show: no debug lines, excerpts, the new failure reasons."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.pull.judge import judge
from agent.pull.log.model import Attempt, PullLog
from agent.registries.model import Resolution
from tests.unit.pull_log.synthetic import logrus
from tests.unit.test_judge import SRC, D, resolution_for


@pytest.fixture
def two_mirrors(tmp_path: Path) -> Resolution:
    return resolution_for(f"{SRC}@{D}", "first-mirror-down", tmp_path)


def _log(*attempts: Attempt, **fields: object) -> PullLog:
    served = next((a.location for a in attempts if a.outcome == "served"), None)
    log = PullLog("podman", attempts, 1, (), (), None, (), False, served)
    return dataclasses.replace(log, **fields)  # type: ignore[arg-type]


def _codes(resolution: Resolution, log: PullLog, exit_code: int | None) -> list[str]:
    return [finding.code for finding in judge(resolution, log, exit_code=exit_code).findings]


def test_an_excerpt_that_ends_on_an_attempt_is_unknown_not_not_served(
    two_mirrors: Resolution,
) -> None:
    first = two_mirrors.pull_sources[0].location
    log = _log(Attempt(first, "unfinished"))
    judgement = judge(two_mirrors, log, exit_code=None)
    assert [f.code for f in judgement.findings] == ["outcome-unknown"]
    assert judgement.verdict == "error" and judgement.served_by is None
    # with the tool's status known (agent check), the same attempts are a failure
    assert _codes(two_mirrors, log, 125) == ["not-served"]


def test_no_attempt_shown(two_mirrors: Resolution) -> None:
    started = _log(image=f"{SRC}@{D}")
    judgement = judge(two_mirrors, started, exit_code=None)
    assert [f.code for f in judgement.findings] == ["outcome-unknown"]
    assert f"{SRC}@{D}" in judgement.findings[0].message
    succeeded = _log(completed=True, manifest_read=True)
    assert _codes(two_mirrors, succeeded, 0) == ["source-not-shown"]
    blob = _log(manifest_read=True, final_error="Error: writing blob: no space left on device")
    judgement = judge(two_mirrors, blob, exit_code=125)
    assert [f.code for f in judgement.findings] == ["pull-failed-after-resolution"]
    assert "no space left" in judgement.findings[0].message
    refused = _log(final_error="Error: short-name resolution enforced but cannot prompt")
    judgement = judge(two_mirrors, refused, exit_code=125)
    assert [f.code for f in judgement.findings] == ["check-failed"]
    assert "before the log shows any source" in judgement.findings[0].message


def test_reasons_that_need_words_get_them(two_mirrors: Resolution) -> None:
    first, second, source = (s.location for s in two_mirrors.pull_sources)
    log = _log(
        Attempt(
            first,
            "failed",
            "not-a-registry",
            "pinging container registry h: invalid status code from registry 404 (Not Found)",
        ),
        Attempt(second, "failed", "rate-limited", "toomanyrequests: slow down (Retry-After: 60)"),
        Attempt(source, "failed", "unknown", "pinging container registry q: dial tcp 52.…"),
        final_error="Error: …",
        attempts_inferred=True,
    )
    (finding,) = judge(two_mirrors, log, exit_code=125).findings
    assert finding.code == "not-served"
    assert f"{second} (rate-limited, retry after 60)" in finding.message
    assert "is not a container registry" in finding.message
    assert "429 Too Many Requests" in finding.message
    assert f"the log does not show why {source} failed" in finding.message
    assert "attempts read from the error text" in finding.message


def test_fallback_past_a_non_registry_says_so(two_mirrors: Resolution) -> None:
    first, second, _ = (s.location for s in two_mirrors.pull_sources)
    log = _log(
        Attempt(first, "failed", "not-a-registry", "… 404 (Not Found)"), Attempt(second, "served")
    )
    (finding,) = judge(two_mirrors, log, exit_code=0).findings
    assert finding.code == "fallback-to-later-mirror"
    assert f"{first} answered the registry ping (/v2/) with 404" in finding.message


def test_an_excerpt_ending_after_a_retry_warning_is_unknown_with_the_round_shown(
    two_mirrors: Resolution,
) -> None:
    from agent.pull.log.pulls import parse_pulls

    error = (
        f"initializing source docker://{SRC}@{D}: pinging container registry "
        f'{SRC.split("/")[0]}: Get "https://x/v2/": dial tcp 3.3.3.3:443: connect: connection '
        "refused"
    )
    for text in (
        f"WARN[0001] Failed, retrying in 1s ... (1/3). Error: {error}",
        logrus(f"Failed, retrying in 1s ... (1/3). Error: {error}", "warning"),
    ):
        (log,) = parse_pulls(text)
        judgement = judge(two_mirrors, log, exit_code=None)
        finding = judgement.findings[-1]  # after order-mismatch: the mirrors are not named
        assert (
            judgement.verdict == "error"
            and finding.code == "outcome-unknown"
            and "retry warning" in finding.message
        )
        assert "no attempt on a source" not in finding.message
        assert [(a.outcome, a.reason) for a in judgement.attempts] == [
            ("failed", "connection-refused")
        ]


def test_an_excerpt_ending_while_copying_blobs_says_a_source_served_the_manifest(
    two_mirrors: Resolution,
) -> None:
    from agent.pull.log.pulls import parse_pulls

    text = "\n".join(
        [
            f"Trying to pull {SRC}@{D}...",
            "Getting image source signatures",
            "Copying blob sha256:" + "2a" * 32,
        ]
    )
    (log,) = parse_pulls(text)
    (finding,) = judge(two_mirrors, log, exit_code=None).findings
    assert finding.code == "outcome-unknown"
    assert "a source served the manifest" in finding.message
    assert "the end of the pull is not shown" in finding.message
