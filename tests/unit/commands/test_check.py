"""agent check's flow with a fake node runner that replays real fixture logs."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.commands.auto import repo_digests
from agent.commands.check import CheckOptions
from agent.commands.checks_file import read_images_file
from agent.errors import AgentError, CheckEnvironmentError
from agent.process import CommandNotFound
from agent.report import CheckReport
from tests.unit.commands.fakes import (
    SRC,
    D,
    FakeRunner,
    check,
    fixture,
    host_from,
    host_with,
    result,
)


def test_fallback_is_reported_with_attempts_and_schema(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))})
    progress: list[tuple[str, str]] = []
    report = check(
        runner,
        host_with(tmp_path, "first-mirror-down"),
        CheckOptions((SRC,)),
        progress=lambda image, state: progress.append((image, state)),
    )
    document = report.to_json()
    assert document["schemaVersion"] == 1
    assert (document["node"], document["podmanVersion"]) == ("node-1", "4.3.1")
    assert document["registriesConf"]["fingerprint"].startswith("sha256:")
    assert document["verdict"] == "warn"
    (image,) = document["images"]
    assert image["servedBy"] == f"127.0.0.1:5103/mirror/hello@{D}"
    assert [(a["kind"], a["outcome"], a["reason"]) for a in image["attempts"]] == [
        ("mirror", "failed", "connection-refused"),
        ("mirror", "served", None),
    ]
    assert [e["kind"] for e in image["expected"]] == ["mirror", "mirror", "source"]
    assert [f["code"] for f in image["findings"]] == ["fallback-to-later-mirror"]
    assert image["log"] and "Trying to access" in image["log"]
    assert CheckReport.from_json(json.loads(json.dumps(document))).to_json() == document
    assert ("pull", SRC, None) in runner.calls
    assert progress[0] == (SRC, "starting")
    assert (SRC, "trying 127.0.0.1:5109/mirror/hello@" + D) in progress


def test_manifest_method_uses_skopeo(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("skopeo-inspect-raw-mirror-missing-digest"))})
    report = check(
        runner,
        host_with(tmp_path, "mirror-missing-digest"),
        CheckOptions((SRC,), method="manifest"),
    )
    assert runner.calls == [("manifest", SRC, None)]
    assert report.images[0].served_by_kind == "mirror"
    assert report.method == "manifest"


def test_invalid_node_configuration_fails_every_image(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text('[[registry]]\nprefix = "a.b/c"\n')
    report = check(FakeRunner({}), root, CheckOptions((SRC, "x.y/z@" + D)))
    assert report.verdict == "fail"
    assert [i.verdict for i in report.images] == ["fail", "fail"]
    assert report.findings[0].code == "registries-conf-invalid"
    assert report.to_json()["registriesConf"]["error"]["kind"] == "location-required"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (CommandNotFound("podman", where="on the node"), "tool-missing"),
        (CheckEnvironmentError("only 100 MiB free in /host/var/tmp"), "environment"),
        (result(fixture("mirror-hang"), None, timed_out=True), "timeout"),
    ],
)
def test_problems_running_the_pull_are_errors(tmp_path: Path, answer: Any, code: str) -> None:
    report = check(
        FakeRunner({SRC: answer}), host_with(tmp_path, "mirror-hang"), CheckOptions((SRC,))
    )
    assert report.verdict == "error"
    assert report.images[0].findings[0].code == code


def test_one_bad_image_does_not_stop_the_others(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))})
    report = check(
        runner, host_with(tmp_path, "first-mirror-down"), CheckOptions(("busybox", "Bad/Ref", SRC))
    )
    assert [(i.verdict, i.findings[0].code) for i in report.images] == [
        ("error", "short-name"),
        ("error", "invalid-reference"),
        ("warn", "fallback-to-later-mirror"),
    ]


@pytest.mark.parametrize("text", ["--root=/", "-x", "", "quay.io/a b:1", "quay.io/a\n:1"])
def test_a_reference_that_could_be_an_option_reaches_no_command(tmp_path: Path, text: str) -> None:
    # Parsed once where it enters: it is that image's error; podman and skopeo never see it.
    runner = FakeRunner({})
    for method in ("pull", "manifest"):
        report = check(
            runner,
            host_with(tmp_path / method, "first-mirror-down"),
            CheckOptions((text,), method=method),
        )
        assert [(i.verdict, i.findings[0].code) for i in report.images] == [
            ("error", "invalid-reference")
        ]
    assert runner.calls == []


def test_interrupted_check_still_reports(tmp_path: Path) -> None:
    other = f"127.0.0.1:5101/src/other@{D}"
    runner = FakeRunner({SRC: result(fixture("first-mirror-down")), other: KeyboardInterrupt()})
    report = check(runner, host_with(tmp_path, "first-mirror-down"), CheckOptions((SRC, other)))
    assert [i.verdict for i in report.images] == ["warn", "error"]
    assert report.images[1].findings[0].code == "interrupted"
    assert report.to_json()["interrupted"] == "SIGINT"


def test_auto_picks_one_held_image_per_mirrored_entry(tmp_path: Path) -> None:
    root = host_from(
        tmp_path,
        '[[registry]]\nlocation = "127.0.0.1:5101/src"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:5109/mirror"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:5103/mirror"\ninsecure = true\n'
        '[[registry]]\nlocation = "quay.io/other"\n'
        '[[registry.mirror]]\nlocation = "m.example.net/other"\n'
        '[[registry]]\nlocation = "no-mirrors.example.com"\nblocked = true\n',
    )
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))})
    runner.store_images = [
        # as containers/storage records them: a tag name, a digest name, the manifest digest
        {"names": ["127.0.0.1:5101/src/hello:v1", SRC], "digest": D},
        {"names": ["registry.example.com/x:1"], "digest": D},
        {"names": [], "digest": D},
        {"id": "no names or digest"},
    ]
    report = check(runner, root, CheckOptions(auto=True))
    assert [i.image for i in report.images] == [SRC]
    assert [(n.prefix, "no image" in n.reason) for n in report.not_verified] == [
        ("quay.io/other", True)
    ]
    assert report.verdict == "warn"


def test_auto_without_image_listing_is_an_error(tmp_path: Path) -> None:
    runner = FakeRunner({})
    runner.store_images = CheckEnvironmentError("cannot read the node's images.json: bad")
    report = check(runner, host_with(tmp_path, "first-mirror-down"), CheckOptions(auto=True))
    assert report.verdict == "error"
    assert [f.code for f in report.findings] == ["auto-unavailable", "nothing-to-check"]


def test_probe_mirrors_asks_each_mirror_with_an_empty_configuration(tmp_path: Path) -> None:
    mirror_a = f"127.0.0.1:5109/mirror/hello@{D}"
    mirror_b = f"127.0.0.1:5103/mirror/hello@{D}"
    refused = (
        f'time="x" level=debug msg="Trying to access \\"{mirror_a}\\""\n'
        f'time="x" level=debug msg="Accessing \\"{mirror_a}\\" failed: pinging container '
        f'registry 127.0.0.1:5109: Get \\"http://127.0.0.1:5109/v2/\\": dial tcp '
        f'127.0.0.1:5109: connect: connection refused"\n'
    )
    runner = FakeRunner(
        {
            SRC: result(fixture("first-mirror-down")),
            mirror_a: result(refused, 1),
            mirror_b: result(f'msg="Trying to access \\"{mirror_b}\\""', 0),
        }
    )
    report = check(
        runner, host_with(tmp_path, "first-mirror-down"), CheckOptions((SRC,), probe_mirrors=True)
    )
    probes = report.images[0].probes
    assert [(p.location, p.available, p.reason) for p in probes] == [
        (mirror_a, False, "connection-refused"),
        (mirror_b, True, None),
    ]
    assert ("manifest", mirror_a, "/var/tmp/mirror-agent-probe.conf") in runner.calls
    (conf,) = runner.temp_files
    assert "[[registry.mirror]]" not in conf and 'location = "127.0.0.1:5103"' in conf
    assert "probe-mirror-failed" in [f.code for f in report.images[0].findings]


def test_no_podman_version_assumes_current_releases(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))}, version=None)
    report = check(runner, host_with(tmp_path, "first-mirror-down"), CheckOptions((SRC,)))
    assert report.findings[0].code == "podman-version-unknown"
    assert report.behaviour and "5.35" in report.behaviour


def test_a_version_asked_for_earlier_is_used_instead_of_asking_again(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))}, version="5.5.0")
    options = CheckOptions((SRC,))
    report = check(
        runner, host_with(tmp_path, "first-mirror-down"), options, podman_version_of=lambda: "4.3.1"
    )
    assert report.podman_version == "4.3.1"
    assert report.behaviour and "5.23" in report.behaviour  # podman 4.3's containers/image
    assert runner.version_asked == 0  # not asked a second time


def test_images_file() -> None:
    assert read_images_file("# c\n a.b/c@x \n\nd.e/f:1  # tag\n", "f") == ["a.b/c@x", "d.e/f:1"]
    with pytest.raises(AgentError, match="f:2: one image reference per line"):
        read_images_file("ok.b/c\na.b/c d.e/f\n", "f")


def test_manifest_images_use_skopeo_whatever_the_method(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("skopeo-inspect-raw-mirror-missing-digest"))})
    report = check(
        runner,
        host_with(tmp_path, "mirror-missing-digest"),
        CheckOptions((SRC,), method="pull", manifest_images=(SRC,)),
    )
    assert runner.calls == [("manifest", SRC, None)]
    assert report.images[0].verdict == "warn"
    assert report.method == "pull"  # the default; the image says what really ran
    assert report.images[0].method == "manifest"
    assert report.images[0].to_json()["method"] == "manifest"


# --- --probe-mirrors problems stay with the image -------------------------------------------


class NoScratchRunner(FakeRunner):
    """A node whose scratch folder cannot hold the probe's registries.conf."""

    @contextlib.contextmanager
    def node_temp_file(self, content: str) -> Iterator[str]:
        raise CheckEnvironmentError("cannot create a file in /host/var/tmp: Read-only file system")
        yield "never"  # pragma: no cover


def test_probe_that_cannot_run_is_a_finding_of_the_image(tmp_path: Path) -> None:
    other = "127.0.0.1:5101/src/hello:v1"  # a tag: no mirror applies, nothing to probe
    runner = NoScratchRunner(
        {
            SRC: result(fixture("first-mirror-down")),
            other: result(fixture("tag-digest-only-mirror-skipped")),
        }
    )
    report = check(
        runner,
        host_with(tmp_path, "first-mirror-down"),
        CheckOptions((SRC, other), probe_mirrors=True),
    )
    assert [i.image for i in report.images] == [SRC, other]  # the second image is checked too
    first = report.images[0]
    assert [f.code for f in first.findings] == ["fallback-to-later-mirror", "probe-unavailable"]
    assert "Read-only file system" in first.findings[-1].message
    assert first.served_by == f"127.0.0.1:5103/mirror/hello@{D}"  # the pull's result is kept
    assert first.probes == ()
    assert [f.code for f in report.images[1].findings] == ["mirrors-skipped"]
    assert report.verdict == "warn"


def test_probe_without_skopeo_on_the_node_is_a_finding_of_the_image(tmp_path: Path) -> None:
    mirror_a = f"127.0.0.1:5109/mirror/hello@{D}"
    missing = CommandNotFound("skopeo", where="on the node", detail="no such file")
    runner = FakeRunner({SRC: result(fixture("first-mirror-down")), mirror_a: missing})
    report = check(
        runner, host_with(tmp_path, "first-mirror-down"), CheckOptions((SRC,), probe_mirrors=True)
    )
    (image,) = report.images
    assert (image.verdict, [f.code for f in image.findings]) == (
        "warn",
        ["fallback-to-later-mirror", "probe-unavailable"],
    )
    assert "cannot run 'skopeo' on the node" in image.findings[-1].message
    assert image.attempts and image.exit_code == 0


# --- --auto and tag-only mirrors -------------------------------------------------------------


def test_auto_lists_an_entry_with_only_tag_only_mirrors_as_not_verified(tmp_path: Path) -> None:
    runner = FakeRunner({})
    runner.store_images = [{"names": ["127.0.0.1:5101/src/hello:v1"], "digest": D}]
    report = check(runner, host_with(tmp_path, "itms-tag-only"), CheckOptions(auto=True))
    assert report.images == () and runner.calls == []  # a digest pull would skip the mirror
    (entry,) = report.not_verified
    assert entry.prefix == "127.0.0.1:5101/src/hello"
    assert "tag-only" in entry.reason and "digest" in entry.reason
    assert report.verdict == "warn"
    assert [f.code for f in report.findings] == []


def test_auto_still_picks_a_digest_for_an_entry_with_some_digest_mirrors(tmp_path: Path) -> None:
    root = host_from(
        tmp_path,
        '[[registry]]\nlocation = "127.0.0.1:5101/src"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:5109/mirror"\ninsecure = true\n'
        'pull-from-mirror = "tag-only"\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:5103/mirror"\ninsecure = true\n'
        'pull-from-mirror = "digest-only"\n',
    )
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))})
    runner.store_images = [{"names": [SRC], "digest": D}]
    report = check(runner, root, CheckOptions(auto=True))
    assert [i.image for i in report.images] == [SRC]
    assert report.not_verified == ()


def test_repo_digests_of_store_records_are_what_podman_shows() -> None:
    """RepoDigests as podman derives them: every name's repository with every manifest
    digest of the image (a manifest list's and the instance's)."""
    instance, listed = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    records = [
        {
            "names": ["mirror.example.net:5000/ocp/release:4.15", f"quay.io/ocp/release@{listed}"],
            "digest": instance,
            "digests": [instance, listed],
            "big-data-names": [f"manifest-{listed}", "manifest", "sha256:" + "c" * 64],
        },
        {"names": None, "digest": instance},
        {"names": ["localhost/only-a-tag:1"], "digest": "not-a-digest"},
    ]
    assert repo_digests(records) == [
        f"mirror.example.net:5000/ocp/release@{instance}",
        f"mirror.example.net:5000/ocp/release@{listed}",
        f"quay.io/ocp/release@{instance}",
        f"quay.io/ocp/release@{listed}",
    ]
