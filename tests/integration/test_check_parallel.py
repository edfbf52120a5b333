"""``agent check --parallel`` end to end on the lab: the same per-image results as a serial
check (attempts, verdicts, findings), one image's hanging mirror timing out only that
image, and every scratch store removed.

Like tests/integration/test_check.py: the real CLI in a chroot-able host root inside the
lab's sandbox, plain-HTTP lab registries marked ``insecure = true``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.hostroot import build_host_root, run_in_host_root
from tests.support.lab import Lab, Registry

AGENT = Path(sys.executable).with_name("agent")
NAMES = ("hangs", "a", "b", "c", "d")  # "hangs": its first mirror never answers


@dataclass(frozen=True)
class Setup:
    lab: Lab
    source: Registry
    mirror: Registry
    hanging_host: str
    refs: dict[str, str]  # name -> source/team/<name>@digest
    root: Path


@pytest.fixture(scope="module")
def setup(lab: Lab) -> Iterator[Setup]:
    source = lab.start_registry("parallel-source")
    mirror = lab.start_registry("parallel-mirror")
    hanging = lab.start_hanging_server(timeout=120.0)
    refs = {}
    for name in NAMES:
        image = lab.build_image(f"team/{name}:1", size_bytes=8 * 1024)
        digest = lab.push(image, source, f"team/{name}")
        assert lab.push(image, mirror, f"mirror/team/{name}") == digest
        refs[name] = f"{source.host}/team/{name}@{digest}"
    entries = []
    for name in NAMES:
        hosts = [hanging.host, mirror.host] if name == "hangs" else [mirror.host]
        entries.append(
            {
                "prefix": "",
                "location": f"{source.host}/team/{name}",
                "insecure": True,
                "mirror": [
                    {"location": f"{host}/mirror/team/{name}", "insecure": True} for host in hosts
                ],
            }
        )
    conf = {"unqualified-search-registries": [], "registry": entries}
    root = build_host_root(lab, conf, storage_driver="vfs")
    try:
        yield Setup(lab, source, mirror, hanging.host, refs, root)
    finally:
        hanging.stop()


def check(setup: Setup, images_file: Path, *args: str) -> dict[str, Any]:
    argv = [str(AGENT), "check", "--host-root", str(setup.root), "--images-file"]
    argv += [str(images_file), "--timeout", "6", *args, "-o", "json"]
    done = run_in_host_root(setup.root, argv, lab=setup.lab, timeout=180)
    assert done.returncode == 1, f"{done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def per_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """What must not depend on concurrency: attempts, verdict, findings, who served."""
    return {
        "image": image["image"],
        "verdict": image["verdict"],
        "attempts": [
            (a["location"], a["kind"], a["outcome"], a["reason"]) for a in image["attempts"]
        ],
        "findings": [(f["code"], f["severity"]) for f in image["findings"]],
        "servedBy": image["servedBy"],
        "expected": image["expected"],
    }


def test_concurrent_check_gives_the_serial_results_and_only_the_hanging_image_times_out(
    setup: Setup, tmp_path: Path
) -> None:
    images_file = tmp_path / "images.txt"
    order = ["hangs", "a", "b", "c", "d"]
    images_file.write_text("".join(f"{setup.refs[name]}\n" for name in order))

    serial = check(setup, images_file, "--parallel", "1")
    concurrent = check(setup, images_file, "--parallel", "4")

    assert [i["image"] for i in concurrent["images"]] == [setup.refs[name] for name in order]
    assert [per_image(i) for i in concurrent["images"]] == [per_image(i) for i in serial["images"]]
    verdicts = {name: i["verdict"] for name, i in zip(order, concurrent["images"])}
    assert verdicts == {"hangs": "error", "a": "pass", "b": "pass", "c": "pass", "d": "pass"}
    hung = concurrent["images"][0]
    assert [f["code"] for f in hung["findings"]] == ["timeout"]
    digest = setup.refs["hangs"].split("@", 1)[1]
    assert per_image(hung)["attempts"] == [
        (f"{setup.hanging_host}/mirror/team/hangs@{digest}", "mirror", "hung", None)
    ]
    for name, image in zip(order[1:], concurrent["images"][1:]):
        digest = setup.refs[name].split("@", 1)[1]
        assert image["servedBy"] == f"{setup.mirror.host}/mirror/team/{name}@{digest}"
    assert concurrent["verdict"] == serial["verdict"] == "error"
    # every scratch store removed, no podman left running
    assert list((setup.root / "var/tmp").iterdir()) == []
    marks = list(setup.refs.values())  # on the command line of every podman of this test
    leftovers = [
        process.info["pid"]
        for process in psutil.process_iter(["pid", "cmdline", "status"])
        if process.info["status"] != psutil.STATUS_ZOMBIE
        and any(mark in " ".join(process.info["cmdline"] or []) for mark in marks)
    ]
    assert leftovers == []
