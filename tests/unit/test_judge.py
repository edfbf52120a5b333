"""The judge on every real fixture log, against the registries file it was captured with."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import pytest

from agent import registries
from agent.pull.judge import judge, judge_probes
from agent.pull.log.model import Attempt, PullLog
from agent.pull.log.podman import parse_pull_log
from agent.registries.model import LEGACY_PODMAN_4_3, Resolution
from agent.report import Probe
from tests.support.data import FIXTURES, require

D = "sha256:6d9d24274a885ae757f53f7950337d94ebd4b3dfce1a3ba48b218624fa5e72aa"
LOGS = require(FIXTURES) / "podman-4.3"
SRC = "127.0.0.1:5101/src/hello"

# fixture: (reference, registries file, exit code (None: killed), verdict, finding codes)
CASES: dict[str, tuple[str, str, Optional[int], str, list[str]]] = {
    "first-mirror-down": (
        f"{SRC}@{D}",
        "first-mirror-down",
        0,
        "warn",
        ["fallback-to-later-mirror"],
    ),
    "mirror-missing-digest": (
        f"{SRC}@{D}",
        "mirror-missing-digest",
        0,
        "warn",
        ["fallback-to-later-mirror"],
    ),
    "mirrors-fail-source-serves": (
        f"{SRC}@{D}",
        "mirrors-fail-source-serves",
        0,
        "warn",
        ["served-by-source"],
    ),
    "all-fail": (f"127.0.0.1:5101/src/gone@{D}", "all-fail", 125, "fail", ["not-served"]),
    "all-fail-source-unreachable": (
        f"127.0.0.1:5108/src/hello@{D}",
        "all-fail-source-unreachable",
        125,
        "fail",
        ["not-served"],
    ),
    "tag-digest-only-mirror-skipped": (
        f"{SRC}:v1",
        "tag-digest-only-mirror-skipped",
        0,
        "warn",
        ["mirrors-skipped"],
    ),
    "tag-digest-only-source-down": (
        "127.0.0.1:5108/src/hello:v1",
        "tag-digest-only-source-down",
        125,
        "fail",
        ["not-served"],
    ),
    "mirror-401": (f"{SRC}@{D}", "mirror-401", 0, "warn", ["fallback-to-later-mirror"]),
    "mirror-403": (f"{SRC}@{D}", "mirror-403", 0, "warn", ["fallback-to-later-mirror"]),
    "mirror-403-ping": (f"{SRC}@{D}", "mirror-403-ping", 0, "warn", ["fallback-to-later-mirror"]),
    "mirror-tls-errors": (
        f"{SRC}@{D}",
        "mirror-tls-errors",
        0,
        "warn",
        ["fallback-to-later-mirror"],
    ),
    "mirror-dns-failure": (
        f"{SRC}@{D}",
        "mirror-dns-failure",
        0,
        "warn",
        ["fallback-to-later-mirror"],
    ),
    "mirror-connect-timeout": (
        f"{SRC}@{D}",
        "mirror-connect-timeout",
        0,
        "warn",
        ["fallback-to-later-mirror"],
    ),
    "mirror-hang": (f"{SRC}@{D}", "mirror-hang", None, "error", ["timeout"]),
    "idms-digest-only-tag": (f"{SRC}:v1", "idms-digest-only", 0, "warn", ["mirrors-skipped"]),
    "itms-tag-only-tag": (f"{SRC}:v1", "itms-tag-only", 0, "pass", ["served-by-mirror"]),
    "itms-tag-only-digest": (f"{SRC}@{D}", "itms-tag-only", 0, "warn", ["mirrors-skipped"]),
    "blocked-mirror-serves": (
        f"{SRC}@{D}",
        "blocked-mirror-serves",
        0,
        "pass",
        ["served-by-mirror"],
    ),
    "blocked-mirrors-fail": (
        f"{SRC}@{D}",
        "blocked-mirrors-fail",
        125,
        "fail",
        ["not-served", "blocked-source-needed"],
    ),
    "blocked-no-mirrors": (
        f"{SRC}@{D}",
        "blocked-no-mirrors",
        125,
        "fail",
        ["not-served", "blocked-source-needed"],
    ),
    "blocked-tag": (
        f"{SRC}:v1",
        "blocked-mirror-serves",
        125,
        "fail",
        ["not-served", "blocked-source-needed"],
    ),
    "longest-prefix": (f"{SRC}@{D}", "longest-prefix", 0, "warn", ["served-by-source"]),
    "registry-scope-rewrite": (
        f"127.0.0.1:5101/src/other@{D}",
        "longest-prefix",
        125,
        "fail",
        ["not-served"],
    ),
    "already-present": (f"{SRC}@{D}", "already-present", 0, "pass", ["served-by-mirror"]),
    "skopeo-inspect-raw-mirror-missing-digest": (
        f"{SRC}@{D}",
        "mirror-missing-digest",
        0,
        "warn",
        ["fallback-to-later-mirror"],
    ),
    "skopeo-inspect-raw-all-fail": (
        f"127.0.0.1:5101/src/gone@{D}",
        "all-fail",
        1,
        "fail",
        ["not-served"],
    ),
    "skopeo-inspect-raw-blocked-mirrors-fail": (
        f"{SRC}@{D}",
        "blocked-mirrors-fail",
        1,
        "fail",
        ["not-served", "blocked-source-needed"],
    ),
    "skopeo-inspect-tags-source-down": (
        f"127.0.0.1:5108/src/hello@{D}",
        "source-down-mirror-serves",
        1,
        "pass",
        ["served-by-mirror"],
    ),
    "skopeo-inspect-notags-source-down": (
        f"127.0.0.1:5108/src/hello@{D}",
        "source-down-mirror-serves",
        0,
        "pass",
        ["served-by-mirror"],
    ),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(path.stem for path in LOGS.glob("*.log")) == sorted(CASES)


def resolution_for(reference: str, conf_name: str, tmp_path: Path) -> Resolution:
    loaded = registries.load(
        tmp_path, main_override=LOGS / "registries" / f"{conf_name}.conf", compat=LEGACY_PODMAN_4_3
    )
    explanation = loaded.explain(reference)
    assert explanation.problem is None
    (resolution,) = explanation.resolutions
    return resolution


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_judge_on_fixture(fixture: str, tmp_path: Path) -> None:
    reference, conf_name, exit_code, verdict, codes = CASES[fixture]
    resolution = resolution_for(reference, conf_name, tmp_path)
    text = (LOGS / f"{fixture}.log").read_text()
    log = parse_pull_log(text, exit_code=exit_code, killed=exit_code is None)
    judgement = judge(resolution, log, exit_code=exit_code, timed_out=exit_code is None)
    assert [finding.code for finding in judgement.findings] == codes
    assert judgement.verdict == verdict
    # Every attempt is one the configuration names, with its kind.
    assert all(record.kind in ("mirror", "source") for record in judgement.attempts)
    if judgement.served_by:
        assert judgement.served_by == resolution.pull_sources[len(log.attempts) - 1].location


def test_fallback_message_names_failed_mirror_and_reason(tmp_path: Path) -> None:
    resolution = resolution_for(f"{SRC}@{D}", "first-mirror-down", tmp_path)
    text = (LOGS / "first-mirror-down.log").read_text()
    judgement = judge(resolution, parse_pull_log(text, exit_code=0), exit_code=0)
    (finding,) = judgement.findings
    assert "127.0.0.1:5109" in finding.message and "connection-refused" in finding.message
    assert judgement.served_by_kind == "mirror"


def test_hang_names_the_attempt(tmp_path: Path) -> None:
    resolution = resolution_for(f"{SRC}@{D}", "mirror-hang", tmp_path)
    text = (LOGS / "mirror-hang.log").read_text()
    judgement = judge(
        resolution,
        parse_pull_log(text, exit_code=None, killed=True),
        exit_code=None,
        timed_out=True,
    )
    assert "hung at 127.0.0.1:5107" in judgement.findings[0].message


# --- synthetic logs: what real podman should never do, but the judge must catch ---------


def _log(*attempts: Attempt) -> PullLog:
    served = next((a.location for a in attempts if a.outcome == "served"), None)
    return PullLog(
        tool="podman",
        attempts=attempts,
        rounds=1,
        earlier_rounds=(),
        config_files=(),
        final_error=None,
        final_error_sources=(),
        shutdown=False,
        served_by=served,
    )


@pytest.fixture
def two_mirrors(tmp_path: Path) -> Resolution:
    return resolution_for(f"{SRC}@{D}", "first-mirror-down", tmp_path)


def test_wrong_order_fails(two_mirrors: Resolution) -> None:
    first, second, _ = (s.location for s in two_mirrors.pull_sources)
    log = _log(Attempt(second, "failed", "connection-refused", "x"), Attempt(first, "served"))
    judgement = judge(two_mirrors, log, exit_code=0)
    assert judgement.verdict == "fail"
    assert judgement.findings[0].code == "order-mismatch"


def test_unconfigured_source_fails(two_mirrors: Resolution) -> None:
    log = _log(Attempt(f"elsewhere.example.com/src/hello@{D}", "served"))
    judgement = judge(two_mirrors, log, exit_code=0)
    assert judgement.verdict == "fail"
    assert [f.code for f in judgement.findings] == ["unexpected-source"]
    assert judgement.attempts[0].kind is None
    assert judgement.findings[0].message.startswith("podman contacted")
    crio = judge(two_mirrors, dataclasses.replace(log, tool="crio"), exit_code=0)
    assert crio.findings[0].message.startswith("CRI-O contacted")  # a journal, not podman


def test_failure_before_any_attempt_is_an_error(two_mirrors: Resolution) -> None:
    log = PullLog("podman", (), 1, (), (), "Error: short-name resolution enforced", (), False, None)
    judgement = judge(two_mirrors, log, exit_code=125)
    assert (judgement.verdict, judgement.findings[0].code) == ("error", "check-failed")
    assert "short-name resolution" in judgement.findings[0].message


def test_timeout_before_any_attempt(two_mirrors: Resolution) -> None:
    judgement = judge(two_mirrors, _log(), exit_code=None, timed_out=True)
    assert judgement.findings[0].code == "timeout"
    assert "before any source" in judgement.findings[0].message


def test_probe_findings() -> None:
    probes = [
        Probe("m1.example.net/a@" + D, True),
        Probe("m2.example.net/a@" + D, False, "manifest-unknown", "manifest unknown"),
        Probe("m3.example.net/a@" + D, False, "connection-refused", "refused"),
    ]
    assert [f.code for f in judge_probes(probes)] == ["probe-mirror-missing", "probe-mirror-failed"]
    assert all(f.severity == "warn" for f in judge_probes(probes))


# --- a pull that fails after a source served the manifest --------------------------------

LAYER = "sha256:e9a0465e91ed083954116d440c506b11386fd82c8dcb50ba10c5aac4451278a2"
BLOB_UNKNOWN = (
    f"Error: copying system image from manifest list: reading blob {LAYER}: fetching blob: "
    "blob unknown: blob unknown to registry"
)


def blob_unknown_variant(fixture: str) -> str:
    """The fixture cut at the layer's GET, ended as podman ends a pull from a mirror that
    holds the manifest but not the blob (an incomplete oc-mirror): exit 125."""
    lines = (LOGS / f"{fixture}.log").read_text().splitlines(keepends=True)
    cut = max(i for i, line in enumerate(lines) if 'msg="GET ' in line and LAYER in line)
    return "".join(lines[: cut + 1]) + BLOB_UNKNOWN + "\n"


@pytest.mark.parametrize(
    ("fixture", "served_code"),
    [
        ("blocked-mirror-serves", "served-by-mirror"),
        ("first-mirror-down", "fallback-to-later-mirror"),
    ],
)
def test_failure_after_the_manifest_was_served_fails(
    fixture: str, served_code: str, tmp_path: Path
) -> None:
    reference, conf_name, _, verdict, codes = CASES[fixture]
    resolution = resolution_for(reference, conf_name, tmp_path)
    mirror = f"127.0.0.1:5103/mirror/hello@{D}"

    # The fixture itself (rc 0) is unchanged.
    original = (LOGS / f"{fixture}.log").read_text()
    judgement = judge(resolution, parse_pull_log(original, exit_code=0), exit_code=0)
    assert (judgement.verdict, [f.code for f in judgement.findings]) == (verdict, codes)

    log = parse_pull_log(blob_unknown_variant(fixture), exit_code=125)
    judgement = judge(resolution, log, exit_code=125)
    assert judgement.verdict == "fail"
    assert [f.code for f in judgement.findings] == [served_code, "pull-failed-after-resolution"]
    failure = judgement.findings[-1]
    assert failure.severity == "fail"
    assert mirror in failure.message and "(mirror)" in failure.message
    assert BLOB_UNKNOWN in failure.message and "exit code 125" in failure.message
    # The manifest did come from the mirror: servedBy still says so (the verdict says the rest).
    assert (judgement.served_by, judgement.served_by_kind) == (mirror, "mirror")


def test_skopeo_tag_listing_failure_is_not_a_pull_failure(tmp_path: Path) -> None:
    """Plain `skopeo inspect` lists the source's tags after a mirror served the manifest:
    the fixtures README calls its rc 1 not a resolution failure. Other errors still fail."""
    reference, conf_name, _, _, _ = CASES["skopeo-inspect-tags-source-down"]
    resolution = resolution_for(reference, conf_name, tmp_path)
    text = (LOGS / "skopeo-inspect-tags-source-down.log").read_text()
    judgement = judge(resolution, parse_pull_log(text, exit_code=1), exit_code=1)
    assert (judgement.verdict, [f.code for f in judgement.findings]) == (
        "pass",
        ["served-by-mirror"],
    )
    other = text.replace("Error determining repository tags", "Error writing manifest")
    judgement = judge(resolution, parse_pull_log(other, exit_code=1), exit_code=1)
    assert judgement.verdict == "fail"
    assert judgement.findings[-1].code == "pull-failed-after-resolution"
    assert "skopeo's final error: Error writing manifest" in judgement.findings[-1].message


def test_manifest_method_success_is_unaffected(tmp_path: Path) -> None:
    resolution = resolution_for(f"{SRC}@{D}", "mirror-missing-digest", tmp_path)
    text = (LOGS / "skopeo-inspect-raw-mirror-missing-digest.log").read_text()
    judgement = judge(resolution, parse_pull_log(text, exit_code=0), exit_code=0)
    assert [f.code for f in judgement.findings] == ["fallback-to-later-mirror"]


# --- messages that state why mirrors were skipped -------------------------------------------

TAG_ONLY_BLOCKED = """unqualified-search-registries = []
[[registry]]
  prefix = ""
  location = "127.0.0.1:5101/src/hello"
  blocked = true
  insecure = true
  [[registry.mirror]]
    location = "127.0.0.1:5103/mirror/hello"
    insecure = true
    pull-from-mirror = "tag-only"
"""


def test_blocked_source_needed_names_tag_only_mirrors_for_a_digest(tmp_path: Path) -> None:
    conf = tmp_path / "tag-only-blocked.conf"
    conf.write_text(TAG_ONLY_BLOCKED)
    loaded = registries.load(tmp_path, main_override=conf, compat=LEGACY_PODMAN_4_3)
    (resolution,) = loaded.explain(f"{SRC}@{D}").resolutions
    # Real log of a digest pull whose only source is the blocked 5101 (no mirror applies).
    text = (LOGS / "blocked-no-mirrors.log").read_text()
    judgement = judge(resolution, parse_pull_log(text, exit_code=125), exit_code=125)
    assert [f.code for f in judgement.findings] == ["not-served", "blocked-source-needed"]
    message = judgement.findings[-1].message
    assert 'pull-from-mirror = "tag-only" and the reference has a digest' in message
    assert "this is a tag" not in message and "digest-only" not in message


def test_blocked_source_needed_names_digest_only_mirrors_for_a_tag(tmp_path: Path) -> None:
    reference, conf_name, exit_code, _, _ = CASES["blocked-tag"]
    resolution = resolution_for(reference, conf_name, tmp_path)
    text = (LOGS / "blocked-tag.log").read_text()
    judgement = judge(resolution, parse_pull_log(text, exit_code=exit_code), exit_code=exit_code)
    message = judgement.findings[-1].message
    assert 'pull-from-mirror = "digest-only" and the reference has no digest' in message
    assert "is blocked (NeverContactSource)" in message


@pytest.mark.parametrize(
    ("fixture", "advice", "wrong"),
    [
        ("itms-tag-only-digest", "only apply to tags", "only apply to digests"),
        ("idms-digest-only-tag", "only apply to digests", "only apply to tags"),
    ],
)
def test_mirrors_skipped_advice_fits_the_reference(
    fixture: str, advice: str, wrong: str, tmp_path: Path
) -> None:
    reference, conf_name, exit_code, _, _ = CASES[fixture]
    resolution = resolution_for(reference, conf_name, tmp_path)
    text = (LOGS / f"{fixture}.log").read_text()
    judgement = judge(resolution, parse_pull_log(text, exit_code=exit_code), exit_code=exit_code)
    (finding,) = judgement.findings
    assert finding.code == "mirrors-skipped"
    assert advice in finding.message and wrong not in finding.message


# --- a served manifest whose digest is not the reference's (issue 10 §5) -----------------

OTHER = "sha256:" + "0f" * 32


def test_digest_mismatch_in_the_final_error_is_a_failed_attempt(two_mirrors: Resolution) -> None:
    first = two_mirrors.pull_sources[0].location
    log = dataclasses.replace(
        _log(Attempt(first, "served")),
        final_error=f"Error: determining manifest MIME type for docker://{SRC}@{D}: "
        f"Manifest does not match provided manifest digest {D}",
    )
    judgement = judge(two_mirrors, log, exit_code=125)
    assert judgement.served_by is None and judgement.served_digest is None
    assert [(a.outcome, a.reason) for a in judgement.attempts] == [("failed", "digest-mismatch")]
    assert [f.code for f in judgement.findings] == ["digest-mismatch", "not-served"]
    assert judgement.verdict == "fail"


def test_a_served_digest_that_differs_is_a_mismatch(two_mirrors: Resolution) -> None:
    first = two_mirrors.pull_sources[0].location
    judgement = judge(two_mirrors, _log(Attempt(first, "served")), exit_code=0, served_digest=OTHER)
    assert judgement.served_by is None
    assert judgement.attempts[0].reason == "digest-mismatch"
    assert OTHER in judgement.findings[0].message and D in judgement.findings[0].message


def test_a_matching_digest_is_served_and_recorded(two_mirrors: Resolution) -> None:
    first = two_mirrors.pull_sources[0].location
    judgement = judge(two_mirrors, _log(Attempt(first, "served")), exit_code=0)
    assert judgement.served_by == first and judgement.served_digest == D
    same = judge(two_mirrors, _log(Attempt(first, "served")), exit_code=0, served_digest=D)
    assert same.served_by == first and same.verdict == "pass"


def test_a_tag_records_the_digest_served(tmp_path: Path) -> None:
    tagged = resolution_for(f"{SRC}:v1", "first-mirror-down", tmp_path)
    served = tagged.pull_sources[-1].location
    judgement = judge(tagged, _log(Attempt(served, "served")), exit_code=0, served_digest=OTHER)
    assert judgement.served_by == served and judgement.served_digest == OTHER
    assert "digest-mismatch" not in [f.code for f in judgement.findings]


def test_probes_that_answer_with_other_manifests() -> None:
    same = Probe("m1/a@" + D, True, digest=D)
    other = Probe("m2/a@" + D, True, digest=OTHER)
    by_digest = judge_probes([same, other], D)
    assert [f.code for f in by_digest] == ["probe-mirror-differs"]
    assert "m2/a" in by_digest[0].message and "m1/a" not in by_digest[0].message
    assert judge_probes([same, Probe("m3/a:1", True, digest=D)]) == []  # a tag, one manifest
    (tagged,) = judge_probes([Probe("m1/a:1", True, digest=D), Probe("m2/a:1", True, digest=OTHER)])
    assert tagged.code == "probe-mirror-differs" and D in tagged.message and OTHER in tagged.message
