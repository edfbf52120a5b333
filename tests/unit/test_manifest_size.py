"""An image's size from its manifest, and the room check before a pull."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from agent.process import CommandResult
from agent.pull.manifest import ImageSize, PlatformManifest, manifest_size, node_platform
from agent.pull.runner import SIZE_FACTOR, NodeRunner
from agent.pull.scratch import NodeDiskFull
from agent.reference import parse_normalized
from tests.unit.test_runner import settings_for

GIB = 1024**3
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def image_manifest(*sizes: int, config: int = 100) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": DIGEST, "size": config},
            "layers": [{"digest": DIGEST, "size": size} for size in sizes],
        }
    )


def index(**platforms: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {"digest": digest, "size": 500, "platform": {"os": "linux", "architecture": arch}}
                for arch, digest in platforms.items()
            ],
        }
    )


def test_the_size_is_the_layers_and_the_config() -> None:
    assert manifest_size(image_manifest(1000, 2000), "amd64") == ImageSize(3100, 2)


def test_an_index_names_the_platforms_manifest() -> None:
    assert manifest_size(index(arm64=OTHER, amd64=DIGEST), "amd64") == PlatformManifest(DIGEST)
    assert manifest_size(index(arm64=OTHER), "amd64") is None


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        json.dumps({"schemaVersion": 1, "fsLayers": [{"blobSum": DIGEST}]}),
        json.dumps({"layers": [{"size": "12"}]}),
        json.dumps({"layers": [{"size": -1}]}),
        json.dumps({"layers": [{"size": True}]}),
        json.dumps({"manifests": [1, {"platform": "linux"}]}),
    ],
)
def test_a_manifest_without_usable_sizes_is_unknown(text: str) -> None:
    assert manifest_size(text, "amd64") is None


def test_node_platform_names() -> None:
    assert node_platform("x86_64") == "amd64" and node_platform("aarch64") == "arm64"
    assert node_platform("riscv64") == "riscv64"


class ManifestRun:
    """run_command double: skopeo answers manifests by reference; podman pulls succeed."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.manifests = manifests
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> CommandResult:
        self.calls.append(list(argv))
        if "skopeo" in argv:
            reference = argv[-1].removeprefix("docker://")
            text = self.manifests.get(reference)
            code = 0 if text is not None else 1
            return CommandResult(tuple(argv), code, text or "", "", False, 0.1)
        return CommandResult(tuple(argv), 0, "", "", False, 0.1)


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "var" / "tmp").mkdir(parents=True)
    (root / "etc" / "mco").mkdir(parents=True)
    return root


@pytest.fixture
def ten_gib_free(monkeypatch: pytest.MonkeyPatch) -> None:
    usage = SimpleNamespace(total=100 * GIB, used=0, free=10 * GIB, percent=0.0)
    monkeypatch.setattr(psutil, "disk_usage", lambda _path: usage)


REF = f"mirror.example.com/team/app@{DIGEST}"
IMAGE = parse_normalized(REF)


def test_an_image_too_large_for_the_room_left_is_not_pulled(
    host_root: Path, ten_gib_free: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = 3 * GIB  # x SIZE_FACTOR = 9 GiB > 10 - 2 GiB of room
    run = ManifestRun({REF: index(amd64=OTHER), f"mirror.example.com/team/app@{OTHER}": ""})
    run.manifests[f"mirror.example.com/team/app@{OTHER}"] = image_manifest(layer)
    runner = NodeRunner(settings_for(host_root), run=run, size_check=True, min_free_bytes=2 * GIB)
    monkeypatch.setattr("agent.pull.runner.node_platform", lambda: "amd64")
    with pytest.raises(NodeDiskFull) as refused:
        runner.pull(IMAGE)
    assert f"{SIZE_FACTOR} x its {layer + 100} bytes" in refused.value.message
    assert not any("podman" in call for call in run.calls)  # nothing written
    assert [call[-1] for call in run.calls] == [
        f"docker://{REF}",
        f"docker://mirror.example.com/team/app@{OTHER}",
    ]
    assert list((host_root / "var" / "tmp").iterdir()) == []


def test_an_image_that_fits_is_pulled(host_root: Path, ten_gib_free: None) -> None:
    run = ManifestRun({REF: image_manifest(GIB)})
    runner = NodeRunner(settings_for(host_root), run=run, size_check=True, min_free_bytes=2 * GIB)
    assert runner.pull(IMAGE).ok
    assert any("podman" in call for call in run.calls)


def test_an_unknown_size_does_not_stop_the_pull(host_root: Path, ten_gib_free: None) -> None:
    run = ManifestRun({})  # skopeo fails: the pull itself will say why
    runner = NodeRunner(settings_for(host_root), run=run, size_check=True)
    assert runner.pull(IMAGE).ok


class HeldRun(ManifestRun):
    """ManifestRun that records the bytes the runner's pulls in flight hold at each pull."""

    def __init__(self, manifests: dict[str, str]) -> None:
        super().__init__(manifests)
        self.runner: NodeRunner | None = None
        self.held: list[int] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> CommandResult:
        if "podman" in argv and self.runner is not None:
            self.held.append(self.runner.in_flight.held_bytes)
        return super().__call__(argv, **kwargs)


def test_a_pull_in_flight_holds_its_size_estimate(host_root: Path, ten_gib_free: None) -> None:
    run = HeldRun({REF: image_manifest(GIB)})
    runner = NodeRunner(settings_for(host_root), run=run, size_check=True, min_free_bytes=2 * GIB)
    run.runner = runner
    assert runner.pull(IMAGE).ok
    assert run.held == [SIZE_FACTOR * (GIB + 100)]
    assert runner.in_flight.held_bytes == 0


def test_a_pull_of_unknown_size_holds_the_reserve(host_root: Path, ten_gib_free: None) -> None:
    run = HeldRun({})  # skopeo fails: no estimate
    runner = NodeRunner(settings_for(host_root), run=run, size_check=True, min_free_bytes=2 * GIB)
    run.runner = runner
    assert runner.pull(IMAGE).ok
    assert run.held == [2 * GIB]


def test_the_size_check_counts_what_the_pulls_in_flight_hold(
    host_root: Path, ten_gib_free: None
) -> None:
    layer = 2 * GIB  # x SIZE_FACTOR = about 6 GiB: fits the 8 GiB above the reserve alone
    run = ManifestRun({REF: image_manifest(layer)})
    runner = NodeRunner(settings_for(host_root), run=run, size_check=True, min_free_bytes=2 * GIB)
    runner.check_room_for(IMAGE)
    with pytest.raises(NodeDiskFull) as refused:
        runner.check_room_for(IMAGE, held=3 * GIB)  # not beside 3 GiB held by other pulls
    assert f"beside the {3 * GIB} bytes the pulls in flight hold" in refused.value.message
