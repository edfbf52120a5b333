"""The lab itself: real docker-registry, podman and skopeo processes on loopback."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.lab import Lab, LabError, Registry, manifest_digest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _connect_refused(registry_or_host: Registry | str) -> bool:
    host = registry_or_host if isinstance(registry_or_host, str) else registry_or_host.host
    address, port = host.rsplit(":", 1)
    try:
        with socket.create_connection((address, int(port)), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_same_image_has_one_digest_in_every_registry(lab: Lab) -> None:
    upstream = lab.start_registry("upstream")
    mirror = lab.start_registry("mirror")
    assert upstream.port != mirror.port
    assert upstream.host == f"127.0.0.1:{upstream.port}"
    image = lab.build_image("team/app:1", size_bytes=256 * 1024)

    digest = lab.push(image, upstream, "team/app")
    mirrored = lab.push(image, mirror, "mirror/team/app")

    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert mirrored == digest
    for registry, repository in ((upstream, "team/app"), (mirror, "mirror/team/app")):
        result = lab.skopeo(
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{registry.host}/{repository}@{digest}",
        )
        manifest = json.loads(result.stdout)
        assert manifest["schemaVersion"] == 2
        assert manifest_digest(result.stdout.encode()) == digest
        assert lab.inspect_raw(registry, repository, image.tag) == result.stdout.encode()


def test_each_build_is_a_new_image(lab: Lab) -> None:
    registry = lab.start_registry("builds")
    first = lab.build_image("team/same:1", size_bytes=1024)
    second = lab.build_image("team/same:1", size_bytes=1024)
    assert first.image_id != second.image_id
    assert first.marker != second.marker
    assert lab.push(first, registry, "team/same", "a") != lab.push(second, registry, "team/same")


def test_copy_keeps_the_digest(lab: Lab) -> None:
    source = lab.start_registry("copy-src")
    target = lab.start_registry("copy-dst")
    image = lab.build_image("team/copied:2")
    digest = lab.push(image, source, "team/copied")
    assert lab.copy(source, "team/copied", digest, target, "elsewhere/copied", "2") == digest
    assert manifest_digest(lab.inspect_raw(target, "elsewhere/copied", digest)) == digest


def test_stopped_registry_refuses_then_comes_back(lab: Lab) -> None:
    registry = lab.start_registry("flaky")
    image = lab.build_image("team/flaky:1")
    digest = lab.push(image, registry, "team/flaky")
    port, first_pid = registry.port, registry.pid

    registry.stop()
    assert not registry.running
    with pytest.raises(LabError):
        _ = registry.pid
    assert _connect_refused(registry)
    refused = lab.skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{registry.host}/team/flaky@{digest}",
        check=False,
    )
    assert refused.returncode != 0
    assert "connection refused" in refused.stderr

    registry.start()
    assert registry.running
    assert registry.port == port
    assert registry.pid != first_pid
    # same storage: what was pushed before the stop is still there
    assert manifest_digest(lab.inspect_raw(registry, "team/flaky", digest)) == digest


def test_registry_with_basic_auth(lab: Lab) -> None:
    registry = lab.start_registry("private", htpasswd_user="alice", htpasswd_password="s3cret!")
    assert registry.credentials == "alice:s3cret!"
    assert "$2" in (registry.directory / "htpasswd").read_text()  # bcrypt
    image = lab.build_image("team/private:1")
    digest = lab.push(image, registry, "team/private")

    reference = f"docker://{registry.host}/team/private@{digest}"
    anonymous = lab.skopeo("inspect", "--raw", "--tls-verify=false", reference, check=False)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower()
    wrong = lab.skopeo(
        "inspect", "--raw", "--tls-verify=false", "--creds", "alice:nope", reference, check=False
    )
    assert wrong.returncode != 0
    assert manifest_digest(lab.inspect_raw(registry, "team/private", digest)) == digest


def test_hanging_server_accepts_and_never_answers(lab: Lab) -> None:
    server = lab.start_hanging_server()
    assert server.running
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as connection:
        connection.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        connection.settimeout(0.5)
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            connection.recv(1)
        assert time.monotonic() - started >= 0.4
    server.stop()
    assert not server.running
    assert _connect_refused(server.host)


def test_write_host_root(lab: Lab) -> None:
    config = {
        "unqualified-search-registries": ["registry.example.com"],
        "registry": [
            {
                "prefix": "quay.io/team",
                "location": "quay.io/team",
                "mirror": [{"location": "127.0.0.1:5000/team", "pull-from-mirror": "digest-only"}],
            }
        ],
    }
    dropin = '[[registry]]\nlocation = "docker.io"\nblocked = true\n'
    root = lab.write_host_root(config, {"50-block.conf": dropin, "60-dict.conf": {"registry": []}})
    conf_dir = root / "etc" / "containers"
    assert tomllib.loads((conf_dir / "registries.conf").read_text()) == config
    assert (conf_dir / "registries.conf.d" / "50-block.conf").read_text() == dropin
    assert tomllib.loads((conf_dir / "registries.conf.d" / "60-dict.conf").read_text()) == {
        "registry": []
    }
    verbatim = "# comment kept\nunqualified-search-registries = []\n"
    other = lab.write_host_root(verbatim)
    assert other != root
    assert (other / "etc/containers/registries.conf").read_text() == verbatim
    assert list((other / "etc/containers/registries.conf.d").iterdir()) == []
    with pytest.raises(LabError):
        lab.write_host_root("", {"../escape.conf": ""})


def test_podman_and_skopeo_only_see_the_sandbox(lab: Lab) -> None:
    seen = lab.run_sandboxed(
        ["sh", "-c", "cat /etc/containers/registries.conf; ls -A /var/lib/containers"]
    ).stdout
    assert seen.startswith("# mirror-agent lab: no search registries, no mirrors.")
    graph_root = lab.podman("info", "--format", "{{.Store.GraphRoot}}").stdout.strip()
    assert Path(graph_root) == lab.podman_dir / "root"
    assert lab.podman("info", "--format", "{{.Store.GraphDriverName}}").stdout.strip() == "vfs"
    # the blob info cache podman and skopeo keep as root lands in the lab folder
    assert (lab.sandbox / "var-lib-containers" / "cache" / "blob-info-cache-v1.boltdb").exists()


def test_lab_exit_stops_everything(tmp_path: Path) -> None:
    with Lab(tmp_path / "lab") as lab:
        first = lab.start_registry("one")
        second = lab.start_registry("two", htpasswd_user="u", htpasswd_password="p")
        first.stop()
        first.start()
        hanging = lab.start_hanging_server()
        lab.build_image("short/lived")
        hosts = [first.host, second.host, hanging.host]
        running = [first.pid, second.pid, hanging.pid]
        assert set(running) <= set(lab.alive_pids())
        started = lab.started_pids
        assert set(running) <= set(started)
    assert lab.alive_pids() == []
    for pid in started:  # PID reuse within this test is not a concern at these rates
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    for host in hosts:
        assert _connect_refused(host)
    with pytest.raises(LabError, match="closed"):
        lab.start_registry("late")


def test_lab_exit_stops_everything_when_the_body_fails(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), Lab(tmp_path / "lab") as lab:
        registry = lab.start_registry("doomed")
        pid = registry.pid
        _ = 1 / 0
    assert not psutil.pid_exists(pid)
    assert _connect_refused(registry)


def test_push_repairs_a_digest_that_differs_from_the_first_push(lab: Lab) -> None:
    """The fallback of Lab.push: re-copy the first push's manifest when podman differs.

    podman's gzip is deterministic, so a real mismatch cannot be provoked; instead the
    lab is told image ``second`` was first pushed as ``first``'s digest.
    """
    source = lab.start_registry("repair-src")
    target = lab.start_registry("repair-dst")
    first = lab.build_image("team/repair:1")
    second = lab.build_image("team/repair:2")
    digest = lab.push(first, source, "team/repair")
    lab.first_pushes[second.image_id] = (digest, source, "team/repair")
    assert lab.push(second, target, "team/repair", "x") == digest
    assert manifest_digest(lab.inspect_raw(target, "team/repair", "x")) == digest
