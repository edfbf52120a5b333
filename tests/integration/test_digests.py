"""A mirror serving other content than the reference names (real podman and skopeo).

The "lying" mirror answers every manifest request with the manifest of another image
(and its blobs). By digest, containers/image refuses the manifest after the mirror loop
and skopeo ``inspect --raw`` does not check at all: the agent records both as a failed
attempt (``digest-mismatch``), never as served. By tag, nothing can refuse it: the agent
records the digest served, and ``collect`` shows that nodes got different content.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.hostroot import build_host_root, run_in_host_root
from tests.support.lab import Lab, Registry

AGENT = Path(sys.executable).with_name("agent")


@dataclass(frozen=True)
class World:
    lab: Lab
    source: Registry
    mirror: Registry  # an honest mirror: holds team/app:1 as mirror/app:1
    liar: str  # host:port of the lying mirror
    digest: str  # of team/app:1 at the source
    other_digest: str  # of what the liar serves instead

    def ref(self, *, tag: bool = False) -> str:
        return f"{self.source.host}/team/app" + (":1" if tag else f"@{self.digest}")


def _liar(source: Registry, manifest: bytes, digest: str) -> ThreadingHTTPServer:
    media_type = (
        json.loads(manifest).get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            if "/manifests/" in self.path:
                body = manifest
                self.send_header("Content-Type", media_type)
                self.send_header("Docker-Content-Digest", digest)
            elif self.path == "/v2/":
                body = b"{}"
            else:  # blobs: the other image's, from the source
                path = self.path.replace("/mirror/app/", "/team/other/")
                with urllib.request.urlopen(f"{source.url}{path}", timeout=30) as answer:
                    body = answer.read()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        do_HEAD = do_GET

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def world(lab: Lab) -> Iterator[World]:
    source = lab.start_registry("digests-source")
    mirror = lab.start_registry("digests-mirror")
    image = lab.build_image("team/app:1", size_bytes=2048)
    digest = lab.push(image, source, "team/app")
    assert lab.push(image, mirror, "mirror/app") == digest
    other = lab.push(lab.build_image("team/other:1", size_bytes=2048), source, "team/other")
    server = _liar(source, lab.inspect_raw(source, "team/other", other), other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield World(lab, source, mirror, f"127.0.0.1:{server.server_address[1]}", digest, other)
    finally:
        server.shutdown()
        server.server_close()


def _root(world: World, *, lying: bool, honest_first: bool = False) -> Path:
    entry: dict[str, Any] = {
        "prefix": "",
        "location": f"{world.source.host}/team/app",
        "insecure": True,
    }
    hosts = [world.mirror.host] if honest_first else []
    hosts += [world.liar] if lying else []
    if hosts:
        entry["mirror"] = [{"location": f"{host}/mirror/app", "insecure": True} for host in hosts]
    conf = {"unqualified-search-registries": [], "registry": [entry]}
    return build_host_root(world.lab, conf)


def _check(world: World, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(AGENT), "check", "--host-root", str(root), *args, "-o", "json"]
    return run_in_host_root(root, argv, lab=world.lab, timeout=180)


@pytest.mark.parametrize("method", ["pull", "manifest"])
def test_a_manifest_of_another_digest_is_a_failed_attempt(world: World, method: str) -> None:
    root = _root(world, lying=True)
    done = _check(world, root, "-i", world.ref(), "--method", method)
    assert done.returncode == 1, done.stderr
    (image,) = json.loads(done.stdout)["images"]
    (attempt,) = image["attempts"]
    assert attempt["location"].startswith(world.liar)
    assert (attempt["outcome"], attempt["reason"]) == ("failed", "digest-mismatch")
    assert image["servedBy"] is None and image["servedByKind"] is None
    assert image["servedDigest"] is None
    codes = [finding["code"] for finding in image["findings"]]
    assert "digest-mismatch" in codes and "served-by-mirror" not in codes
    assert image["verdict"] == "fail"


def test_the_digest_served_for_a_tag_is_recorded_and_collect_shows_a_difference(
    world: World, tmp_path: Path
) -> None:
    reports = []
    for node, lying in (("honest-node", False), ("lied-to-node", True)):
        root = _root(world, lying=lying)
        done = _check(world, root, "-i", world.ref(tag=True))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        report["node"] = node
        reports.append(report)
    honest, lied = (report["images"][0] for report in reports)
    assert honest["servedDigest"] == world.digest
    assert lied["servedDigest"] == world.other_digest
    assert lied["servedBy"].startswith(world.liar)

    listing = {
        "kind": "ConfigMapList",
        "items": [
            {
                "kind": "ConfigMap",
                "metadata": {"name": f"mirror-agent-report-{r['node']}"},
                "data": {"report.json": json.dumps(r)},
            }
            for r in reports
        ],
    }
    (tmp_path / "reports.json").write_text(json.dumps(listing))
    argv = [str(AGENT), "collect", "--from-file", str(tmp_path / "reports.json")]
    table = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert "DIFFERENT CONTENT" in table.stdout, table.stdout + table.stderr
    as_json = subprocess.run(
        [*argv, "-o", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    (image,) = json.loads(as_json.stdout)["images"]
    assert image["servedDigests"] == {world.digest: 1, world.other_digest: 1}


@pytest.mark.parametrize("tag", [False, True], ids=["digest", "tag"])
def test_probe_mirrors_finds_the_mirror_with_other_content(world: World, tag: bool) -> None:
    root = _root(world, lying=True, honest_first=True)
    done = _check(world, root, "-i", world.ref(tag=tag), "--probe-mirrors")
    assert done.returncode == 0, done.stderr  # a warning
    (image,) = json.loads(done.stdout)["images"]
    assert image["servedBy"].startswith(world.mirror.host)
    assert image["servedDigest"] == world.digest
    digests = {probe["location"].split("/")[0]: probe["digest"] for probe in image["probes"]}
    assert digests == {world.mirror.host: world.digest, world.liar: world.other_digest}
    (differs,) = [f for f in image["findings"] if f["code"] == "probe-mirror-differs"]
    assert world.liar in differs["message"]
