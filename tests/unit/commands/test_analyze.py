"""agent analyze (a captured podman/skopeo log or CRI-O journal) and check --history."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest

from agent import registries
from agent.commands.history import summarise_history
from agent.report import CheckReport
from tests.unit.commands.fakes import SRC, D, analyze, crio_journal, fixture, host_with


def test_analyze_maps_a_skopeo_log_back_to_its_source(tmp_path: Path) -> None:
    loaded = registries.load(host_with(tmp_path, "mirror-missing-digest"))
    report = analyze(loaded, fixture("skopeo-inspect-raw-mirror-missing-digest"), source="x.log")
    (image,) = report.images
    assert image.image == SRC
    assert image.verdict == "warn"
    assert image.exit_code == 0  # inferred: skopeo printed no error


def test_analyze_crio_journal_and_history(tmp_path: Path) -> None:
    loaded = registries.load(host_with(tmp_path, "first-mirror-down"))
    mirror_a = f"127.0.0.1:5109/mirror/hello@{D}"
    mirror_b = f"127.0.0.1:5103/mirror/hello@{D}"
    journal = "\n".join(
        f'Nov 25 10:00:0{n} node-1 crio[1234]: time="2026-11-25T10:00:0{n}Z" level=info msg="{msg}"'
        for n, msg in enumerate(
            [
                f"Pulling image: {SRC}",
                f'Trying to access \\"{mirror_a}\\"',
                f'Trying to access \\"{mirror_b}\\"',
                f"Pulled image: {mirror_b}",
            ]
        )
    )
    report = analyze(loaded, journal, source="journal")
    (image,) = report.images
    assert (image.image, image.served_by) == (SRC, mirror_b)
    (fallback,) = image.findings  # info level: the journal does not say why mirror A failed
    assert fallback.code == "fallback-to-later-mirror"
    assert fallback.message.endswith("(CRI-O logs failed attempts at debug level only)")
    (entry,) = summarise_history(loaded, journal)
    assert (entry["servedBy"], entry["servedByKind"]) == (mirror_b, "mirror")


# --- analyze JOURNAL --image X -----------------------------------------------------------


OTHER_APP = "quay.io/other/app@sha256:" + "1" * 64


def analyze_journal(tmp_path: Path, journal: str, image: Optional[str]) -> CheckReport:
    root = tmp_path / "host"
    if not root.exists():
        host_with(tmp_path, "first-mirror-down")
    loaded = registries.load(root)
    return analyze(loaded, journal, source="crio.journal", image=image)


def test_analyze_journal_judges_the_last_pull_of_the_given_image(tmp_path: Path) -> None:
    mirror_a = f"127.0.0.1:5109/mirror/hello@{D}"
    mirror_b = f"127.0.0.1:5103/mirror/hello@{D}"
    journal = crio_journal(
        f"Pulling image: {SRC}",  # a first try that never finished (kubelet retried)
        f'Trying to access \\"{mirror_a}\\"',
        f"Pulling image: {SRC}",
        f'Trying to access \\"{mirror_a}\\"',
        f'Trying to access \\"{mirror_b}\\"',
        f"Pulled image: {mirror_b}",
        f"Pulling image: {OTHER_APP}",  # the journal's last pull is another image
        f'Trying to access \\"{OTHER_APP}\\"',
        f"Pulled image: {OTHER_APP}",
    )
    (image,) = analyze_journal(tmp_path, journal, SRC).images
    assert (image.image, image.reference, image.served_by) == (SRC, SRC, mirror_b)
    assert [f.code for f in image.findings] == ["fallback-to-later-mirror"]
    assert image.rounds == 2
    (other,) = analyze_journal(tmp_path, journal, OTHER_APP).images
    assert (other.served_by, [f.code for f in other.findings]) == (
        OTHER_APP,
        ["no-mirror-configured"],
    )
    # Spelled differently (a tag and a digest: the tag is dropped), the same image.
    tagged = f"127.0.0.1:5101/src/hello:v1@{D}"
    assert analyze_journal(tmp_path, journal, tagged).images[0].served_by == mirror_b


def test_analyze_journal_without_a_pull_of_the_image_is_an_error(tmp_path: Path) -> None:
    journal = crio_journal(
        f"Pulling image: {OTHER_APP}",
        f'Trying to access \\"{OTHER_APP}\\"',
        f"Pulled image: {OTHER_APP}",
    )
    report = analyze_journal(tmp_path, journal, SRC)
    assert report.verdict == "error"
    (image,) = report.images
    assert (image.image, image.verdict, image.served_by) == (SRC, "error", None)
    (finding,) = image.findings
    assert finding.code == "no-pull-in-log"
    assert SRC in finding.message and "crio.journal" in finding.message
    assert OTHER_APP in finding.message


def test_analyze_infers_a_failure_after_the_manifest_was_served(tmp_path: Path) -> None:
    """A mirror that holds the manifest but not a layer (an incomplete oc-mirror)."""
    lines = fixture("blocked-mirror-serves").splitlines(keepends=True)
    layer = "sha256:e9a0465e91ed083954116d440c506b11386fd82c8dcb50ba10c5aac4451278a2"
    cut = max(i for i, line in enumerate(lines) if 'msg="GET ' in line and layer in line)
    text = "".join(lines[: cut + 1]) + (
        f"Error: copying system image from manifest list: reading blob {layer}: "
        "fetching blob: blob unknown: blob unknown to registry\n"
    )
    loaded = registries.load(host_with(tmp_path, "blocked-mirror-serves"))
    report = analyze(loaded, text, source="x.log")
    (image,) = report.images
    assert (report.verdict, image.exit_code) == ("fail", 125)  # inferred from podman's Error:
    assert image.findings[-1].code == "pull-failed-after-resolution"
    assert image.served_by == f"127.0.0.1:5103/mirror/hello@{D}"


@pytest.mark.parametrize("colours", [False, True])
def test_analyze_a_log_pasted_from_a_terminal(tmp_path: Path, colours: bool) -> None:
    """Colours and CRLF must not hide the image the log pulled or change the verdict."""
    from tests.unit.pull_log.synthetic import to_terminal

    loaded = registries.load(host_with(tmp_path, "first-mirror-down"))
    # cut before podman's "Writing manifest": only the image ID line tells it succeeded
    plain = "\n".join(
        line for line in fixture("first-mirror-down").splitlines() if "Writing manifest" not in line
    )
    pasted = to_terminal(plain, colours).replace("\n", "\r\n")

    def analyzed(text: str) -> Any:
        return analyze(loaded, text, source="x.log")

    expected, got = analyzed(plain).images[0], analyzed(pasted).images[0]
    assert (got.image, got.verdict, got.served_by) == (
        expected.image,
        expected.verdict,
        expected.served_by,
    )
    assert [f.code for f in got.findings] == [f.code for f in expected.findings]


def test_a_grepped_journal_with_a_shared_mirror_is_mapped_by_all_its_attempts(
    tmp_path: Path,
) -> None:
    """oc-mirror sends the release and the payload repositories to one mirror; an excerpt
    of only 'Trying to access' lines names no image, and ends before any 'Pulled image'."""
    conf = tmp_path / "idms.conf"
    conf.write_text(
        "".join(
            f'[[registry]]\nlocation = "quay.io/openshift-release-dev/{repo}"\n\n'
            '[[registry.mirror]]\nlocation = "mirror.corp:8443/ocp4/openshift4"\n'
            'pull-from-mirror = "digest-only"\n\n'
            for repo in ("ocp-release", "ocp-v4.0-art-dev")
        )
    )
    loaded = registries.load(tmp_path / "empty", main_override=conf)
    digest = "sha256:" + "2" * 64
    journal = "\n".join(
        f'Nov 25 20:31:4{n} worker-0 crio[2345]: time="2026-11-25 20:31:4{n}Z" level=info '
        f'msg="Trying to access \\"{location}@{digest}\\""'
        for n, location in enumerate(
            ["mirror.corp:8443/ocp4/openshift4", "quay.io/openshift-release-dev/ocp-v4.0-art-dev"]
        )
    )
    report = analyze(loaded, journal, source="grep.log")
    (image,) = report.images
    assert image.image == f"quay.io/openshift-release-dev/ocp-v4.0-art-dev@{digest}"
    assert [f.code for f in image.findings] == ["outcome-unknown"]  # not "not-served"
    assert image.verdict == "error"
    assert [attempt.kind for attempt in image.attempts] == ["mirror", "source"]


def test_each_image_of_a_log_of_many_pulls_quotes_only_its_own_lines(tmp_path: Path) -> None:
    loaded = registries.load(host_with(tmp_path, "first-mirror-down"))
    text = "\n".join(
        line
        for n in range(3)
        for line in (
            f"Trying to pull quay.io/x/img{n}:1...",
            f"Error: initializing source docker://quay.io/x/img{n}:1: reading manifest 1 in "
            f"quay.io/x/img{n}: manifest unknown",
        )
    )
    report = analyze(loaded, "noise before the first pull\n" + text, source="x.log")
    assert [image.log for image in report.images] == [
        "noise before the first pull\n" + "\n".join(text.split("\n")[0:2]),
        "\n".join(text.split("\n")[2:4]),
        "\n".join(text.split("\n")[4:6]),
    ]


def test_two_skopeo_runs_in_a_journal_claim_no_served_source_for_the_second(
    tmp_path: Path,
) -> None:
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text(
        '[[registry]]\nlocation = "quay.io/openshift-release-dev"\n'
        '[[registry.mirror]]\nlocation = "mirror.corp.example:8443/ocp"\n'
    )
    loaded = registries.load(root)
    digest = "sha256:" + "01" * 32
    mirror = f"mirror.corp.example:8443/ocp/ocp-release@{digest}"
    source = f"quay.io/openshift-release-dev/ocp-release@{digest}"

    def line(pid: int, msg: str) -> str:
        escaped = msg.replace('"', '\\"')
        return f'Mar 01 10:00:00 bastion mirror.sh[{pid}]: level=debug msg="{escaped}"'

    text = "\n".join(
        [
            line(900, 'Loading registries configuration "/etc/containers/registries.conf"'),
            line(900, f'Trying to access "{mirror}"'),
            line(900, f'Accessing "{mirror}" failed: reading manifest x in y: manifest unknown'),
            line(900, f'Trying to access "{source}"'),
            "Mar 01 10:00:02 bastion mirror.sh[900]: Copying blob sha256:aaaa",
            "Mar 01 10:00:09 bastion mirror.sh[900]: Writing manifest to image destination",
            line(901, 'Loading registries configuration "/etc/containers/registries.conf"'),
            line(901, f'Trying to access "{mirror}"'),
        ]
    )
    (image,) = analyze(loaded, text, source="journal").images
    assert image.image == source and image.served_by is None
    assert [f.code for f in image.findings] == ["outcome-unknown"]
    assert [(a.location, a.outcome) for a in image.attempts] == [(mirror, "unfinished")]
    assert image.rounds == 2


def test_this_machines_config_that_is_not_the_logs_gives_one_finding(tmp_path: Path) -> None:
    from agent.commands.analyze import analyze_log

    text = fixture("first-mirror-down")

    def run(root: Path, mine: bool) -> CheckReport:
        loaded = registries.load(root)
        return analyze_log(
            loaded,
            text,
            source="x.log",
            image=None,
            exit_code=None,
            checked_at="now",
            agent_version="0",
            config_of_this_machine=mine,
        )

    workstation = tmp_path / "workstation"
    (workstation / "etc/containers").mkdir(parents=True)
    (workstation / "etc/containers/registries.conf").write_text('[[registry]]\nlocation = "q.io"\n')
    for root in (workstation, tmp_path / "no-config"):
        report = run(root, True)
        assert [f.code for f in report.findings] == ["config-not-the-logs"]
        (image,) = report.images
        assert "unexpected-source" not in [f.code for f in image.findings]
        assert report.verdict == "warn"
        # named explicitly (--host-root, --registries-conf): judged against it as it is
        named = run(root, False)
        assert named.findings == ()
        assert "unexpected-source" in [f.code for f in named.images[0].findings]
    # this machine's configuration that is the log's: nothing to say
    node = run(host_with(tmp_path / "node", "first-mirror-down"), True)
    assert node.findings == () and node.verdict == "warn"
