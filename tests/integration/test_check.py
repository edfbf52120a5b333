"""``agent check`` and ``agent analyze`` end to end: the real CLI, real registries, a real chroot.

Every test runs ``.venv/bin/agent check --host-root <root> ... -o json`` as a subprocess,
wrapped with :func:`tests.support.hostroot.host_root_argv` (a private mount namespace in which the
host root has the machine's /usr, /proc, /dev and /sys, inside the lab's container
sandbox), so the agent chroots into the host root and runs the node's podman or skopeo
exactly as on a node. The lab's registries are plain HTTP: every registries.conf written
here marks sources and mirrors ``insecure = true`` (as MCO does for insecureRegistries);
the agent never passes ``--tls-verify=false``.

One image is built and pushed once for the whole module (to the source, a mirror and a
mirror that needs credentials); each test writes its own host root (registries.conf,
optional kubelet pull secret) and asserts on the JSON report and the exit code.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import psutil
import pytest

from tests.support.fake_apiserver import FakeApiServer
from tests.support.hostroot import (
    PROJECT_ROOT,
    build_host_root,
    call_runner,
    kill_tree,
    run_in_host_root,
    start_in_host_root,
    tree_listing,
)
from tests.support.lab import Image, Lab, Registry

AGENT = Path(sys.executable).with_name("agent")  # .venv/bin/agent, beside the venv's python
USER, PASSWORD = "puller", "s3cret"
MISSING_DIGEST = "sha256:" + "0123456789abcdef" * 4  # in no registry of the lab
_SCRATCH = re.compile(r"--root (/var/tmp/mirror-agent-[^/\s]+)/root")


@dataclass(frozen=True)
class World:
    """The module's registries and its one image, pushed once."""

    lab: Lab
    source: Registry  # holds team/app:1
    mirror: Registry  # holds mirror/team/app:1
    secured: Registry  # htpasswd; holds mirror/team/app:1
    empty: Registry  # up, holds nothing
    down: Registry  # stopped: connection refused on its port
    image: Image
    digest: str

    @property
    def ref(self) -> str:
        """The image by digest, as a workload names it (the source)."""
        return f"{self.source.host}/team/app@{self.digest}"

    @property
    def tag_ref(self) -> str:
        return f"{self.source.host}/team/app:{self.image.tag}"

    def at(self, host: str, digest: Optional[str] = None) -> str:
        """Where a mirror on ``host`` holds the image: ``host/mirror/team/app@digest``."""
        return f"{host}/mirror/team/app@{digest or self.digest}"


@pytest.fixture(scope="module")
def world(lab: Lab) -> World:
    source = lab.start_registry("check-source")
    mirror = lab.start_registry("check-mirror")
    secured = lab.start_registry("check-secured", htpasswd_user=USER, htpasswd_password=PASSWORD)
    empty = lab.start_registry("check-empty")
    down = lab.start_registry("check-down")
    down.stop()
    image = lab.build_image("team/app:1", size_bytes=16 * 1024)
    digest = lab.push(image, source, "team/app")
    assert lab.push(image, mirror, "mirror/team/app") == digest
    assert lab.push(image, secured, "mirror/team/app") == digest
    return World(lab, source, mirror, secured, empty, down, image, digest)


# --------------------------------------------------------------------------------------
# helpers


def entry(
    location: str,
    mirror_hosts: Sequence[str],
    *,
    blocked: bool = False,
    digest_only: bool = False,
    pull_from_mirror: Optional[str] = None,
) -> dict[str, Any]:
    """An MCO-style ``[[registry]]`` entry; ``mirror_hosts`` hold ``mirror/<location path>``."""
    path = location.split("/", 1)[1]
    mirrors = []
    for host in mirror_hosts:
        mirror: dict[str, Any] = {"location": f"{host}/mirror/{path}", "insecure": True}
        if pull_from_mirror is not None:
            mirror["pull-from-mirror"] = pull_from_mirror
        mirrors.append(mirror)
    table: dict[str, Any] = {"prefix": "", "location": location, "insecure": True}
    if blocked:
        table["blocked"] = True
    if digest_only:
        table["mirror-by-digest-only"] = True
    table["mirror"] = mirrors
    return table


def node(
    world: World,
    mirror_hosts: Sequence[str],
    *,
    auth: Optional[Mapping[str, tuple[str, str]]] = None,
    extra: Sequence[dict[str, Any]] = (),
    storage_driver: str = "vfs",
    **options: Any,
) -> Path:
    """A chroot-able host root whose registries.conf mirrors ``source/team/app``."""
    conf = {
        "unqualified-search-registries": [],
        "registry": [entry(f"{world.source.host}/team/app", mirror_hosts, **options), *extra],
    }
    return build_host_root(world.lab, conf, auth=auth, storage_driver=storage_driver)


def run_agent(world: World, root: Path, *args: str, timeout: float = 120.0) -> Any:
    """``agent ARGS`` in the host root's mount namespace (inside the lab sandbox)."""
    return run_in_host_root(root, [str(AGENT), *args], lab=world.lab, timeout=timeout)


def shown(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-3000:]}"


def check(world: World, root: Path, *args: str, exit_code: int, timeout: float = 120.0) -> Any:
    """``agent check --host-root ROOT ARGS -o json``: the report, after checking the exit."""
    done = run_agent(world, root, "check", "--host-root", str(root), *args, "-o", "json")
    assert done.returncode == exit_code, shown(done)
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["schemaVersion"] == 1
    return report


def only_image(report: Mapping[str, Any]) -> Any:
    (image,) = report["images"]
    return image


def tried(image: Mapping[str, Any]) -> list[tuple[str, Optional[str], str, Optional[str]]]:
    """(location, kind, outcome, reason) of every attempt, in order."""
    return [(a["location"], a["kind"], a["outcome"], a["reason"]) for a in image["attempts"]]


def codes(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    return [finding["code"] for finding in findings]


def expected(*sources: tuple[str, str], blocked_last: bool = False) -> list[dict[str, Any]]:
    rows = [
        {"location": location, "kind": kind, "insecure": True, "blocked": False}
        for location, kind in sources
    ]
    if blocked_last:
        rows[-1]["blocked"] = True
    return rows


def assert_scratch_removed(root: Path, image: Mapping[str, Any]) -> None:
    """podman used a scratch store under the node's /var/tmp, and it is gone."""
    used = _SCRATCH.search(image["log"] or "")
    assert used is not None, (image["log"] or "")[:2000]
    assert not (root / used.group(1).lstrip("/")).exists()
    assert list((root / "var/tmp").iterdir()) == []


def log_since(registry: Registry, offset: int) -> str:
    """What ``registry`` logged after its log file had ``offset`` bytes."""
    with registry.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def node_store_images(root: Path, driver: str = "vfs") -> list[str]:
    """Image IDs in the host root's own store."""
    images = root / f"var/lib/containers/storage/{driver}-images"
    return (
        sorted(path.name for path in images.iterdir() if path.is_dir()) if images.is_dir() else []
    )


# --------------------------------------------------------------------------------------
# where the image comes from


def test_first_mirror_serves(world: World) -> None:
    root = node(world, [world.mirror.host, world.down.host])
    report = check(world, root, "--image", world.ref, "--strict", exit_code=0)

    assert report["verdict"] == "pass"
    assert report["method"] == "pull" and report["storage"] == "scratch"
    assert re.fullmatch(r"\d+\.\d+\.\d+", report["podmanVersion"] or "")
    assert report["registriesConf"]["files"] == [str(root / "etc/containers/registries.conf")]
    assert report["summary"] == {"pass": 1, "warn": 0, "fail": 0, "error": 0}
    image = only_image(report)
    assert image["image"] == image["reference"] == world.ref
    assert image["verdict"] == "pass"
    assert image["expected"] == expected(
        (world.at(world.mirror.host), "mirror"),
        (world.at(world.down.host), "mirror"),
        (world.ref, "source"),
    )
    assert tried(image) == [(world.at(world.mirror.host), "mirror", "served", None)]
    assert image["servedBy"] == world.at(world.mirror.host)
    assert image["servedByKind"] == "mirror"
    assert codes(image["findings"]) == ["served-by-mirror"]
    assert image["exitCode"] == 0 and image["rounds"] == 1
    assert_scratch_removed(root, image)


# Where a fallback ends: the mirrors configured (World registries, in order), the attempts
# (registry or "source", outcome, reason) and the finding. Every failed location is named.
FALLBACKS = {
    "first-mirror-down-second-serves": (
        ["down", "mirror"],
        [("down", "failed", "connection-refused"), ("mirror", "served", None)],
        "fallback-to-later-mirror",
    ),
    "first-mirror-lacks-the-digest-second-serves": (
        ["empty", "mirror"],
        [("empty", "failed", "manifest-unknown"), ("mirror", "served", None)],
        "fallback-to-later-mirror",
    ),
    "every-mirror-fails-and-the-source-serves": (
        ["down", "empty"],
        [
            ("down", "failed", "connection-refused"),
            ("empty", "failed", "manifest-unknown"),
            ("source", "served", None),
        ],
        "served-by-source",
    ),
}


@pytest.mark.parametrize(("mirrors", "attempts", "code"), FALLBACKS.values(), ids=FALLBACKS)
def test_a_pull_falls_back_along_the_configured_order(
    world: World,
    mirrors: list[str],
    attempts: list[tuple[str, str, Optional[str]]],
    code: str,
) -> None:
    root = node(world, [getattr(world, name).host for name in mirrors])
    report = check(world, root, "--image", world.ref, exit_code=0)

    def where(name: str) -> tuple[str, str]:
        return (
            (world.ref, "source")
            if name == "source"
            else (world.at(getattr(world, name).host), "mirror")
        )

    assert report["verdict"] == "warn"
    image = only_image(report)
    assert image["verdict"] == "warn"
    assert tried(image) == [(*where(name), outcome, reason) for name, outcome, reason in attempts]
    assert (image["servedBy"], image["servedByKind"]) == where(attempts[-1][0])
    assert codes(image["findings"]) == [code]
    for attempt in image["attempts"]:
        if attempt["outcome"] == "failed":
            assert attempt["location"] in image["findings"][0]["message"]
        if attempt["reason"] == "connection-refused":
            assert "connection refused" in attempt["message"]


def test_nothing_serves_the_image(world: World) -> None:
    """A digest that no registry holds: every source answers, none serves (no retries:
    manifest unknown is not retryable, so this stays fast)."""
    root = node(world, [world.down.host, world.mirror.host])
    missing = f"{world.source.host}/team/app@{MISSING_DIGEST}"
    report = check(world, root, "--image", missing, exit_code=1)

    assert report["verdict"] == "fail"
    assert report["summary"]["fail"] == 1
    image = only_image(report)
    assert image["verdict"] == "fail"
    assert tried(image) == [
        (world.at(world.down.host, MISSING_DIGEST), "mirror", "failed", "connection-refused"),
        (world.at(world.mirror.host, MISSING_DIGEST), "mirror", "failed", "manifest-unknown"),
        (missing, "source", "failed", "manifest-unknown"),
    ]
    assert image["servedBy"] is None and image["servedByKind"] is None
    assert codes(image["findings"]) == ["not-served"]
    assert image["exitCode"] == 125
    assert "Mirrors also failed" in image["finalError"]


# --------------------------------------------------------------------------------------
# digest-only mirrors and blocked sources


@pytest.mark.parametrize(
    "rule",
    [{"digest_only": True}, {"pull_from_mirror": "digest-only"}],
    ids=["mirror-by-digest-only", "pull-from-mirror-digest-only"],
)
def test_tag_skips_digest_only_mirrors(world: World, rule: dict[str, Any]) -> None:
    root = node(world, [world.mirror.host], **rule)
    report = check(world, root, "--image", world.tag_ref, exit_code=0)

    assert report["verdict"] == "warn"
    image = only_image(report)
    assert image["reference"] == world.tag_ref
    assert image["expected"] == expected((world.tag_ref, "source"))
    skipped = f"{world.mirror.host}/mirror/team/app:{world.image.tag}"
    assert [s["location"] for s in image["skippedMirrors"]] == [skipped]
    assert "digest" in image["skippedMirrors"][0]["reason"]
    assert tried(image) == [(world.tag_ref, "source", "served", None)]
    assert image["servedByKind"] == "source"
    assert codes(image["findings"]) == ["mirrors-skipped"]


def test_blocked_source_digest_served_by_mirror_without_contacting_source(world: World) -> None:
    root = node(world, [world.mirror.host], blocked=True, pull_from_mirror="digest-only")
    log_before = world.source.log_path.stat().st_size
    report = check(world, root, "--image", world.ref, exit_code=0)

    assert report["verdict"] == "pass"
    image = only_image(report)
    assert image["expected"] == expected(
        (world.at(world.mirror.host), "mirror"), (world.ref, "source"), blocked_last=True
    )
    assert tried(image) == [(world.at(world.mirror.host), "mirror", "served", None)]
    assert codes(image["findings"]) == ["served-by-mirror"]
    added = log_since(world.source, log_before)
    assert "/manifests/" not in added
    assert "/v2/" not in added  # not even pinged


def test_blocked_source_needed_for_a_tag(world: World) -> None:
    root = node(world, [world.mirror.host], blocked=True, pull_from_mirror="digest-only")
    log_before = world.source.log_path.stat().st_size
    report = check(world, root, "--image", world.tag_ref, exit_code=1)

    assert report["verdict"] == "fail"
    image = only_image(report)
    assert image["verdict"] == "fail"
    assert tried(image) == [(world.tag_ref, "source", "failed", "blocked")]
    assert image["servedBy"] is None
    assert codes(image["findings"]) == ["not-served", "blocked-source-needed"]
    assert "is blocked in" in image["finalError"]
    assert "/v2/" not in log_since(world.source, log_before)  # refused without a request


# --------------------------------------------------------------------------------------
# credentials: the node's global pull secret


def test_mirror_needing_credentials_uses_the_kubelet_pull_secret(world: World) -> None:
    secret = {world.secured.host: (USER, PASSWORD)}
    with_secret = node(world, [world.secured.host, world.mirror.host], auth=secret)
    assert (with_secret / "var/lib/kubelet/config.json").is_file()
    report = check(world, with_secret, "--image", world.ref, exit_code=0)
    assert report["verdict"] == "pass"
    image = only_image(report)
    assert tried(image) == [(world.at(world.secured.host), "mirror", "served", None)]
    assert "--authfile /var/lib/kubelet/config.json" in image["log"]
    assert PASSWORD not in json.dumps(report)

    without = node(world, [world.secured.host, world.mirror.host])
    assert not (without / "var/lib/kubelet/config.json").exists()
    report = check(world, without, "--image", world.ref, exit_code=0)
    assert report["verdict"] == "warn"
    image = only_image(report)
    assert tried(image) == [
        (world.at(world.secured.host), "mirror", "failed", "unauthorized"),
        (world.at(world.mirror.host), "mirror", "served", None),
    ]
    assert codes(image["findings"]) == ["fallback-to-later-mirror"]


# --------------------------------------------------------------------------------------
# methods, storage and options


def test_manifest_method_gives_the_same_verdicts_and_stores_nothing(world: World) -> None:
    first = node(world, [world.mirror.host])
    fallback = node(world, [world.down.host, world.mirror.host])
    before = {root: tree_listing(root / "var/lib/containers") for root in (first, fallback)}

    report = check(world, first, "--method", "manifest", "--image", world.ref, exit_code=0)
    assert (report["method"], report["verdict"]) == ("manifest", "pass")
    image = only_image(report)
    assert tried(image) == [(world.at(world.mirror.host), "mirror", "served", None)]
    assert codes(image["findings"]) == ["served-by-mirror"]
    assert "Content-Type from manifest GET" in image["log"]
    assert "/blobs/" not in image["log"]  # the manifest only: no layer, no config
    assert "podman filtering" not in image["log"]

    report = check(world, fallback, "--method", "manifest", "--image", world.ref, exit_code=0)
    assert (report["method"], report["verdict"]) == ("manifest", "warn")
    image = only_image(report)
    assert tried(image) == [
        (world.at(world.down.host), "mirror", "failed", "connection-refused"),
        (world.at(world.mirror.host), "mirror", "served", None),
    ]
    assert codes(image["findings"]) == ["fallback-to-later-mirror"]

    for root in (first, fallback):
        assert tree_listing(root / "var/lib/containers") == before[root]
        assert not (root / "var/lib/containers/storage").exists()
        assert list((root / "var/tmp").iterdir()) == []


def test_scratch_storage_leaves_the_node_store_alone_node_storage_fills_it(world: World) -> None:
    """The node's store uses overlay, as on RHCOS; the scratch store is asked for vfs."""
    root = node(world, [world.mirror.host], storage_driver="overlay")
    store_before = tree_listing(root / "var/lib/containers", skip=["cache"])

    report = check(
        world, root, "--storage-driver", "vfs", "--image", world.ref, exit_code=0
    )  # --storage scratch is the default
    assert (report["storage"], report["verdict"]) == ("scratch", "pass")
    image = only_image(report)
    assert "Using graph driver vfs" in image["log"]
    assert_scratch_removed(root, image)
    # podman 4.3 writes its blob info cache (var/lib/containers/cache) whatever the store
    assert tree_listing(root / "var/lib/containers", skip=["cache"]) == store_before
    assert not (root / "var/lib/containers/storage").exists()

    report = check(world, root, "--storage", "node", "--image", world.ref, exit_code=0)
    assert (report["storage"], report["verdict"]) == ("node", "pass")
    image = only_image(report)
    assert image["servedBy"] == world.at(world.mirror.host)
    assert "Using graph driver overlay" in image["log"]
    assert "--root /var/tmp/" not in image["log"]
    assert node_store_images(root, "overlay") == [world.image.image_id.removeprefix("sha256:")]
    assert list((root / "var/tmp").iterdir()) == []


def test_auto_picks_the_node_image_and_lists_entries_it_cannot_verify(world: World) -> None:
    other = entry(f"{world.source.host}/team/other", [world.mirror.host])
    root = node(world, [world.mirror.host], extra=[other])
    # the node's own store gets the image by digest (as CRI-O would have pulled it)
    check(world, root, "--storage", "node", "--image", world.ref, exit_code=0)

    report = check(world, root, "--auto", exit_code=0)
    assert report["verdict"] == "warn"  # one mirrored entry is not verified
    image = only_image(report)
    assert image["image"] == world.ref
    assert image["verdict"] == "pass"
    assert tried(image) == [(world.at(world.mirror.host), "mirror", "served", None)]
    assert codes(image["findings"]) == ["served-by-mirror"]
    assert [item["prefix"] for item in report["notVerified"]] == [f"{world.source.host}/team/other"]
    assert_scratch_removed(root, image)  # --auto checks in scratch storage by default


def test_probe_mirrors_reports_a_mirror_without_the_image(world: World) -> None:
    root = node(world, [world.mirror.host, world.empty.host])
    report = check(world, root, "--probe-mirrors", "--image", world.ref, exit_code=0)

    assert report["verdict"] == "warn"
    image = only_image(report)
    assert image["verdict"] == "warn"
    assert tried(image) == [(world.at(world.mirror.host), "mirror", "served", None)]
    assert image["servedByKind"] == "mirror"
    assert codes(image["findings"]) == ["served-by-mirror", "probe-mirror-missing"]
    assert world.at(world.empty.host) in image["findings"][1]["message"]
    probes = [(p["location"], p["available"], p["reason"]) for p in image["probes"]]
    assert probes == [
        (world.at(world.mirror.host), True, None),
        (world.at(world.empty.host), False, "manifest-unknown"),
    ]
    assert list((root / "var/tmp").iterdir()) == []  # probe registries.conf removed too


def _podman_pulling(reference: str) -> bool:
    return any(
        "pull" in (process.info["cmdline"] or []) and reference in (process.info["cmdline"] or [])
        for process in psutil.process_iter(["cmdline"])
    )


def test_agent_run_stopped_mid_pull_ends_at_once_and_leaves_nothing(
    world: World, tmp_path: Path
) -> None:
    """The DaemonSet pod deleted while podman hangs on a mirror: the agent stops podman,
    removes the scratch store, publishes nothing (the last complete report would stay)
    and exits within seconds, not at the kubelet's SIGKILL."""
    hanging = world.lab.start_hanging_server()
    with FakeApiServer(token="t") as server:
        server.add_namespace("mirror-agent")
        server.add_node("worker-0")
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="mirror-agent")
        root = node(world, [hanging.host, world.mirror.host])
        argv = [str(AGENT), "run", "--kubeconfig", str(kubeconfig), "--host-root", str(root)]
        argv += ["--node", "worker-0", "--image", world.ref, "--jitter", "0s"]
        argv += ["--timeout", "120", "--log-format", "json"]
        agent = start_in_host_root(root, argv, lab=world.lab)  # the agent's own PID
        try:
            deadline = time.monotonic() + 60
            while not _podman_pulling(world.ref) and time.monotonic() < deadline:
                assert agent.poll() is None, agent.communicate()
                time.sleep(0.1)
            assert _podman_pulling(world.ref)
            time.sleep(1.0)  # podman reaches the mirror that never answers
            stopped = time.monotonic()
            agent.send_signal(signal.SIGTERM)
            out, err = agent.communicate(timeout=30)
            elapsed = time.monotonic() - stopped
        finally:
            if agent.poll() is None:
                kill_tree(agent.pid)
                agent.communicate()
            hanging.stop()
        published = server.get_object("ConfigMap", "mirror-agent-report-worker-0", "mirror-agent")

    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [event["event"] for event in events] == ["check-interrupted", "terminated"], err
    assert events[0]["signal"] == "SIGTERM"
    assert agent.returncode == 0
    assert elapsed < 10  # podman's SIGTERM grace (2 s) and cleanup, far from 30 s
    assert published is None
    assert not _podman_pulling(world.ref)
    assert list((root / "var/tmp").iterdir()) == []


def test_hanging_mirror_times_out_and_leaves_nothing_behind(world: World) -> None:
    hanging = world.lab.start_hanging_server()
    try:
        root = node(world, [hanging.host, world.mirror.host])
        started = time.monotonic()
        report = check(world, root, "--timeout", "5", "--image", world.ref, exit_code=1)
        elapsed = time.monotonic() - started
    finally:
        hanging.stop()

    assert report["verdict"] == "error"
    image = only_image(report)
    assert image["verdict"] == "error"
    assert tried(image) == [(world.at(hanging.host), "mirror", "hung", None)]
    assert image["servedBy"] is None and image["exitCode"] is None
    assert codes(image["findings"]) == ["timeout"]
    assert world.at(hanging.host) in image["findings"][0]["message"]
    assert 5.0 <= image["durationSeconds"] < 5.0 + 5.0 + 2.0  # timeout + SIGTERM grace
    assert elapsed < 30
    scratch = _SCRATCH.search(image["log"])
    assert scratch is not None
    leftovers = [
        process.info["pid"]
        for process in psutil.process_iter(["pid", "cmdline", "status"])
        if process.info["status"] != psutil.STATUS_ZOMBIE
        and any(
            mark in " ".join(process.info["cmdline"] or [])
            for mark in (scratch.group(1), world.ref, hanging.host)
        )
    ]
    assert leftovers == []
    assert list((root / "var/tmp").iterdir()) == []


# --------------------------------------------------------------------------------------
# analyze, table output, bad input


def test_analyze_of_a_captured_pull_agrees_with_check(world: World, tmp_path: Path) -> None:
    root = node(world, [world.down.host, world.mirror.host])
    checked = only_image(check(world, root, "--image", world.ref, exit_code=0))

    pulled = call_runner(root, "pull", world.ref, lab=world.lab)["result"]
    assert pulled["exit_code"] == 0, pulled["stderr"][-3000:]
    log = tmp_path / "pull.log"
    log.write_text(pulled["stderr"])
    empty_root = tmp_path / "elsewhere"
    empty_root.mkdir()
    done = subprocess.run(
        [
            str(AGENT),
            "analyze",
            str(log),
            "--registries-conf",
            str(root / "etc/containers/registries.conf"),
            "--host-root",
            str(empty_root),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(PROJECT_ROOT),
    )
    assert done.returncode == 0, shown(done)
    report = json.loads(done.stdout)
    assert report["method"] == "log"
    analyzed = only_image(report)
    assert analyzed["image"] == world.ref
    assert (report["verdict"], analyzed["verdict"]) == ("warn", checked["verdict"])
    assert analyzed["servedBy"] == checked["servedBy"] == world.at(world.mirror.host)
    assert analyzed["servedByKind"] == checked["servedByKind"]
    assert tried(analyzed) == tried(checked)
    assert codes(analyzed["findings"]) == codes(checked["findings"])


def test_table_output_of_a_fallback(world: World) -> None:
    root = node(world, [world.down.host, world.mirror.host])
    done = run_agent(
        world, root, "check", "--host-root", str(root), "--image", world.ref, "--strict"
    )
    assert done.returncode == 1, shown(done)  # warn, and --strict fails warnings
    text = done.stdout
    assert re.search(r"^WARN\s+\S*127\.0\.0\.1", text, re.M), text
    assert re.search(
        rf"served by: {re.escape(world.mirror.host)}/mirror/team/app@\S+ \(mirror\)", text
    )
    assert re.search(
        rf"^\s+1\. mirror\s+{re.escape(world.down.host)}/\S+\s+failed: connection-refused$",
        text,
        re.M,
    ), text
    assert re.search(rf"^\s+2\. mirror\s+{re.escape(world.mirror.host)}/\S+\s+served$", text, re.M)
    assert "fallback-to-later-mirror:" in text
    assert "overall: WARN" in text


def test_invalid_node_registries_conf_fails_with_a_report(world: World) -> None:
    root = build_host_root(world.lab, "[[registry]]\nlocation = \n")
    report = check(world, root, "--image", world.ref, exit_code=1)

    assert report["verdict"] == "fail"
    assert "registries-conf-invalid" in codes(report["findings"])
    error = report["registriesConf"]["error"]
    assert error["kind"] == "toml-syntax"
    assert error["file"] == str(root / "etc/containers/registries.conf")
    image = only_image(report)
    assert image["verdict"] == "fail"
    assert codes(image["findings"]) == ["registries-conf-invalid"]
    assert image["attempts"] == []
    assert list((root / "var/tmp").iterdir()) == []  # nothing was pulled


def test_images_file_with_two_references_on_a_line_is_refused(world: World, tmp_path: Path) -> None:
    root = node(world, [world.mirror.host])
    images = tmp_path / "images.txt"
    images.write_text(f"# checks\n{world.ref}\n{world.ref} {world.tag_ref}\n")
    done = run_agent(
        world, root, "check", "--host-root", str(root), "--images-file", str(images), "-o", "json"
    )
    assert done.returncode == 2, shown(done)
    assert done.stdout == ""
    assert f"{images}:3: one image reference per line" in done.stderr
    assert list((root / "var/tmp").iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        [],  # nothing to check
        ["--storage", "node", "--storage-driver", "vfs", "--image", "REF"],
        ["--timeout", "0", "--image", "REF"],
        ["--method", "copy", "--image", "REF"],
    ],
    ids=["no-image", "driver-for-node-store", "zero-timeout", "unknown-method"],
)
def test_bad_input_is_refused_before_pulling(world: World, args: list[str]) -> None:
    root = node(world, [world.mirror.host])
    args = [world.ref if arg == "REF" else arg for arg in args]
    done = run_agent(world, root, "check", "--host-root", str(root), *args, "-o", "json")
    assert done.returncode == 2, shown(done)
    assert done.stdout == ""
    assert list((root / "var/tmp").iterdir()) == []


@pytest.mark.parametrize("value", ["-x", "--strict"], ids=["dash-image", "flag-as-image"])
def test_option_like_image_is_a_usage_error(world: World, value: str) -> None:
    """``--image -x`` (or ``--image --strict``, where the flag is swallowed as the value)
    is bad input, exit 2, like an invalid reference for ``agent explain`` (README: exit
    codes). FAILS today: the check runs and reports the image as ``invalid-reference``
    with verdict error, exit 1 (agent/commands/check.py check_image)."""
    root = node(world, [world.mirror.host])
    done = run_agent(world, root, "check", "--host-root", str(root), "--image", value)
    assert done.returncode == 2, shown(done)
    assert list((root / "var/tmp").iterdir()) == []
