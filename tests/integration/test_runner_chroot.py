"""NodeRunner for real: podman and skopeo under chroot into a host root, as on a node.

Each test builds a chroot-able host root (tests/support/hostroot.py) and runs one NodeRunner
method in a subprocess inside the host root's private mount namespace (itself inside
the lab's container sandbox), against the lab's plain-HTTP registries, which the host
root's registries.conf marks ``insecure`` (the runner never passes --tls-verify=false).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.commands.auto import repo_digests
from tests.support.hostroot import (
    PROJECT_ROOT,
    build_host_root,
    call_runner,
    insecure_entries,
    tree_listing,
)
from tests.support.lab import Image, Lab, Registry, manifest_digest

AUTH = "/var/lib/kubelet/config.json"
LAB_HOST = "registry.lab.test"  # resolves to 127.0.0.1 only through the host root's etc/hosts


@dataclass(frozen=True)
class Pushed:
    image: Image
    digest: str
    open: Registry
    secured: Registry

    @property
    def ref(self) -> str:
        return f"{self.open.host}/team/app@{self.digest}"

    @property
    def secured_ref(self) -> str:
        return f"{self.secured.host}/team/app@{self.digest}"

    @property
    def named_ref(self) -> str:
        """The open registry under a name only the host root can resolve."""
        return f"{LAB_HOST}:{self.open.port}/team/app@{self.digest}"

    @property
    def image_id(self) -> str:
        return self.image.image_id.removeprefix("sha256:")


@pytest.fixture(scope="module")
def pushed(lab: Lab) -> Pushed:
    open_registry = lab.start_registry("runner-open")
    secured = lab.start_registry("runner-auth", htpasswd_user="puller", htpasswd_password="s3cret")
    image = lab.build_image("team/app:1", size_bytes=64 * 1024)
    digest = lab.push(image, open_registry, "team/app")
    assert lab.push(image, secured, "team/app") == digest
    return Pushed(image, digest, open_registry, secured)


def registries_conf(*hosts: str) -> dict[str, Any]:
    return {"unqualified-search-registries": [], "registry": insecure_entries(*hosts)}


def host_root(lab: Lab, pushed: Pushed, **kwargs: Any) -> Path:
    hosts = (pushed.open.host, pushed.secured.host, f"{LAB_HOST}:{pushed.open.port}")
    return build_host_root(lab, registries_conf(*hosts), hosts={LAB_HOST: "127.0.0.1"}, **kwargs)


def scratch_of(argv: list[str]) -> str:
    """The node path of the scratch store in a podman command line."""
    return argv[argv.index("--root") + 1].rsplit("/", 1)[0]


def sandbox_listing(lab: Lab) -> dict[str, Any]:
    """The lab folders standing in for the machine's own container directories."""
    return {
        name: tree_listing(lab.sandbox / name)
        for name in ("etc-containers", "var-lib-containers", "run-containers")
    }


def test_scratch_pull_by_digest_through_chroot(lab: Lab, pushed: Pushed) -> None:
    root = host_root(lab, pushed)
    sandbox_before = sandbox_listing(lab)
    store_before = tree_listing(root / "var/lib/containers")

    answer = call_runner(root, "pull", pushed.ref, lab=lab)

    result = answer["result"]
    assert result["exit_code"] == 0, result["stderr"][-3000:]
    assert not result["timed_out"]
    assert result["stdout"].strip().splitlines()[-1] == pushed.image_id
    argv = result["argv"]
    assert argv[:3] == ["chroot", str(root), "podman"]
    scratch = scratch_of(argv)
    assert scratch.startswith("/var/tmp/mirror-agent-")
    assert argv[-3:] == ["--log-level=debug", "--", pushed.ref]
    assert f'Trying to access \\"{pushed.ref}\\"' in result["stderr"]
    assert f"{scratch}/root" in result["stderr"]  # podman really used the scratch store
    # every stderr line reached the callback, in order
    assert answer["lines"] == result["stderr"].splitlines()
    # the scratch store is gone; the node's store was not touched (podman 4.3 does write
    # the blob info cache /var/lib/containers/cache, which has no flag)
    assert not (root / scratch.lstrip("/")).exists()
    assert sorted(p.name for p in (root / "var/tmp").iterdir()) == []
    store_after = tree_listing(root / "var/lib/containers", skip=["cache"])
    assert store_after == store_before
    assert not (root / "var/lib/containers/storage").exists()
    # podman's own state stays in the scratch folder: no /run/libpod (its "alive" file would
    # make the node's podman skip its after-boot refresh), no events, no network locks
    assert not (root / "run/libpod").exists()
    assert not (root / "etc/cni/net.d/cni.lock").exists()
    assert "--tmpdir" in argv and "--events-backend" in argv
    # nothing escaped the chroot into the (lab's stand-ins for the) machine's directories
    assert sandbox_listing(lab) == sandbox_before
    assert answer["mounts_left"] == []


def test_node_storage_pull_lands_in_the_host_root_store(lab: Lab, pushed: Pushed) -> None:
    root = host_root(lab, pushed)
    assert call_runner(root, "node_store_images", lab=lab)["result"] == []

    answer = call_runner(root, "pull", pushed.ref, lab=lab, runner={"storage": "node"})

    result = answer["result"]
    assert result["exit_code"] == 0, result["stderr"][-3000:]
    assert result["argv"] == [
        "chroot",
        str(root),
        "podman",
        "pull",
        "--log-level=debug",
        "--",
        pushed.ref,
    ]
    assert (root / "var/lib/containers/storage/vfs-images" / pushed.image_id).is_dir()
    assert list((root / "var/tmp").iterdir()) == []  # its TMPDIR folder is gone too

    # --auto's listing: read from containers/storage's own file, as podman would show it
    store = root / "var/lib/containers/storage"
    before = tree_listing(store)
    records = call_runner(root, "node_store_images", lab=lab)["result"]
    assert [record["id"] for record in records] == [pushed.image_id]
    assert f"{pushed.open.host}/team/app@{pushed.digest}" in repo_digests(records)
    assert tree_listing(store) == before  # nothing set up in the node's store by listing it


def test_scratch_pull_leaves_node_images_unchanged(lab: Lab, pushed: Pushed) -> None:
    root = host_root(lab, pushed)
    assert call_runner(root, "pull", pushed.ref, lab=lab)["result"]["exit_code"] == 0
    assert call_runner(root, "node_store_images", lab=lab)["result"] == []


def test_inspect_manifest_fetches_the_manifest_only(lab: Lab, pushed: Pushed) -> None:
    root = host_root(lab, pushed)
    answer = call_runner(root, "inspect_manifest", pushed.ref, lab=lab)
    result = answer["result"]
    assert result["exit_code"] == 0, result["stderr"]
    assert result["argv"][2:] == ["skopeo", "--debug", "inspect", "--raw", f"docker://{pushed.ref}"]
    assert manifest_digest(result["stdout"].encode()) == pushed.digest
    assert "Trying to access" in result["stderr"]
    assert answer["lines"] == result["stderr"].splitlines()
    assert not (root / "var/lib/containers/storage").exists()
    assert list((root / "var/tmp").iterdir()) == []


def test_inspect_manifest_with_a_probe_registries_conf(lab: Lab, pushed: Pushed) -> None:
    """The node's registries.conf does not mark the registry insecure (so a probe over
    https fails); the probe file placed on the node does, and is used instead."""
    root = build_host_root(lab, registries_conf())
    plain = call_runner(root, "inspect_manifest", pushed.ref, lab=lab)["result"]
    assert plain["exit_code"] == 1
    assert "server gave HTTP response to HTTPS client" in plain["stderr"]

    probe = textwrap.dedent(
        f"""\
        unqualified-search-registries = []
        [[registry]]
        location = "{pushed.open.host}"
        insecure = true
        """
    )
    answer = call_runner(root, "inspect_manifest", pushed.ref, lab=lab, registries_conf_text=probe)
    result = answer["result"]
    assert result["exit_code"] == 0, result["stderr"]
    assert answer["temp_file"].startswith("/var/tmp/mirror-agent-")
    assert f'Loading registries configuration \\"{answer["temp_file"]}\\"' in result["stderr"]
    assert manifest_digest(result["stdout"].encode()) == pushed.digest
    assert list((root / "var/tmp").iterdir()) == []


def test_the_node_pull_secret_is_the_auth_file(lab: Lab, pushed: Pushed) -> None:
    without = host_root(lab, pushed)
    denied = call_runner(without, "pull", pushed.secured_ref, lab=lab)
    assert denied["settings"]["auth_file"] is None
    assert denied["result"]["exit_code"] == 125
    assert "authentication required" in denied["result"]["stderr"]

    with_secret = host_root(lab, pushed, auth={pushed.secured.host: ("puller", "s3cret")})
    for method in ("pull", "inspect_manifest"):
        answer = call_runner(with_secret, method, pushed.secured_ref, lab=lab)
        assert answer["settings"]["auth_file"] == AUTH
        result = answer["result"]
        assert result["exit_code"] == 0, result["stderr"][-3000:]
        assert result["argv"][result["argv"].index("--authfile") + 1] == AUTH


def test_hanging_registry_times_out_and_leaves_no_podman(lab: Lab, pushed: Pushed) -> None:
    hanging = lab.start_hanging_server()
    root = build_host_root(lab, registries_conf(hanging.host))
    ref = f"{hanging.host}/team/app@{pushed.digest}"
    started = time.monotonic()

    answer = call_runner(root, "pull", ref, lab=lab, runner={"timeout": 3.0}, timeout=60)

    result = answer["result"]
    assert result["timed_out"] and result["exit_code"] is None
    assert 3.0 <= result["duration"] < 3.0 + 5.0 + 2.0
    assert f'Trying to access \\"{ref}\\"' in result["stderr"]
    assert "Received shutdown signal" in result["stderr"]  # SIGTERM first, then podman left
    assert time.monotonic() - started < 30
    leftovers = [
        process.pid
        for process in psutil.process_iter(["cmdline", "status"])
        if hanging.host in " ".join(process.info["cmdline"] or [])
        and process.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert leftovers == []
    assert list((root / "var/tmp").iterdir()) == []
    assert answer["mounts_left"] == []

    inspect = call_runner(root, "inspect_manifest", ref, lab=lab, runner={"timeout": 2.0})
    assert inspect["result"]["timed_out"] and inspect["result"]["exit_code"] is None


def test_proxy_from_the_node_reaches_podman(lab: Lab, pushed: Pushed) -> None:
    """Go never proxies loopback addresses, so the registry is reached by a name that
    only the host root's etc/hosts knows; a proxy that refuses connections shows up."""
    closed = lab.start_registry("runner-closed-proxy")
    closed.stop()  # nothing listens on its port any more
    proxy = f"export HTTP_PROXY=http://{closed.host}\n# set by MCO\nHTTPS_PROXY='http://{closed.host}'\n"
    root = host_root(lab, pushed, proxy_env=proxy)
    answer = call_runner(root, "pull", pushed.named_ref, lab=lab)
    assert answer["settings"]["proxy_env"] == {
        "HTTP_PROXY": f"http://{closed.host}",
        "HTTPS_PROXY": f"http://{closed.host}",
    }
    assert answer["result"]["exit_code"] == 125
    assert "proxyconnect tcp" in answer["result"]["stderr"]

    bypass = host_root(lab, pushed, proxy_env=proxy + f"NO_PROXY={LAB_HOST}\n")
    assert call_runner(bypass, "pull", pushed.named_ref, lab=lab)["result"]["exit_code"] == 0


def test_the_agent_environment_does_not_reach_podman(lab: Lab, pushed: Pushed) -> None:
    root = host_root(lab, pushed)
    agent_env = {
        "CONTAINERS_REGISTRIES_CONF": "/nonexistent/registries.conf",
        "CONTAINERS_STORAGE_CONF": "/nonexistent/storage.conf",
        "CONTAINERS_CONF": "/nonexistent/containers.conf",
        "REGISTRY_AUTH_FILE": "/nonexistent/auth.json",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "KUBECONFIG": "/nonexistent/kubeconfig",
    }
    for method in ("pull", "inspect_manifest"):
        answer = call_runner(root, method, pushed.named_ref, lab=lab, env=agent_env)
        assert answer["result"]["exit_code"] == 0, answer["result"]["stderr"][-3000:]


def test_overlay_scratch_store_is_unmounted_and_removed(lab: Lab, pushed: Pushed) -> None:
    """RHCOS stores use overlay: the scratch store inherits the node's driver."""
    root = host_root(lab, pushed, storage_driver="overlay")
    answer = call_runner(root, "pull", pushed.ref, lab=lab)
    result = answer["result"]
    assert result["exit_code"] == 0, result["stderr"][-3000:]
    assert "Using graph driver overlay" in result["stderr"]
    assert answer["mounts_left"] == []
    assert list((root / "var/tmp").iterdir()) == []


def test_podman_version_and_journal_on_the_node(lab: Lab, pushed: Pushed) -> None:
    root = host_root(lab, pushed)
    version = call_runner(root, "podman_version", lab=lab)["result"]
    machine = subprocess.run(["podman", "--version"], capture_output=True, text=True, check=True)
    assert machine.stdout.strip() == f"podman version {version}"
    # `podman --version` does not set up the runtime: the node's store stays untouched
    assert not (root / "var/lib/containers/storage").exists()

    journal = call_runner(root, "crio_journal", lab=lab)["result"]
    assert journal["exit_code"] is not None and not journal["timed_out"]
    assert journal["argv"][2] == "journalctl"


def test_remove_tree_unmounts_what_was_left_mounted(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import json, subprocess
        from pathlib import Path
        from agent.pull.scratch import mounts_below, remove_tree
        store = Path({str(tmp_path / "mirror-agent-x")!r})
        (store / "root" / "overlay").mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(store / "root" / "overlay")],
                       check=True)
        (store / "root" / "overlay" / "l").mkdir()
        subprocess.run(["mount", "--bind", str(store / "root" / "overlay" / "l"),
                        str(store / "root" / "overlay" / "l")], check=True)
        (store / "root" / "overlay" / "l" / "file").write_text("x")
        before = mounts_below(store)
        problems = remove_tree(store)
        print(json.dumps({{"before": before, "problems": problems,
                           "exists": store.exists(), "after": mounts_below(store)}}))
        """
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(PROJECT_ROOT),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    store = tmp_path / "mirror-agent-x"
    assert report["before"] == [f"{store}/root/overlay/l", f"{store}/root/overlay"]
    assert report == {**report, "problems": [], "exists": False, "after": []}
