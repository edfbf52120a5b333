"""The agent's image, built from the Containerfile and run with real podman, as a cluster runs it.

The image is built once per module (tests/support/image_lab.py): from a Debian base made with
mmdebstrap (cached per machine), offline (in a network namespace with loopback only, pip
limited to a folder of wheels). Each test runs it with the outer podman of the image lab,
privileged, on the host network, with a test host root (tests/support/hostroot.py) mounted at
``/host``, against the lab's registries: a source, a mirror that is down and a mirror
that serves the image.
The lab registries are plain HTTP, so every registries.conf written here marks them
``insecure`` (as MCO does for insecureRegistries).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import psutil
import pytest
import yaml

from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer
from tests.support.hostroot import build_host_root, kill_tree, run_in_host_root, tree_listing
from tests.support.image_inputs import debian_base, python_tag, wheelhouse
from tests.support.image_lab import ImageLab, container_argv, finish, start
from tests.support.lab import Lab, Registry

AGENT = Path(sys.executable).with_name("agent")  # .venv/bin/agent: the agent outside
IMAGE = "localhost/mirror-agent:test"
NODE = "worker-0"
NAMESPACE = "mirror-agent"
REPORTS_NAMESPACE = "mirror-agent-reports"  # where the agent may write (daemonset/rbac.yaml)
DAEMONSET = PROJECT_ROOT / "daemonset" / "daemonset.yaml"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
#: What a check may leave in the node's root, as the README's "Known limits" lists it:
#: containers/image's blob info cache (no podman option moves it) and netavark's empty
#: network folder. (The libpod lock segment goes to /dev/shm, which the host root mounts.)
ALLOWED_LEFTOVERS = {
    "var/lib/containers/cache",
    "var/lib/containers/cache/blob-info-cache-v1.boltdb",
    "run/containers",
    "run/containers/networks",
}
_MOUNT_POINTS = ("usr", "proc", "dev", "sys")


@dataclass(frozen=True)
class World:
    lab: Lab
    images: ImageLab
    source: Registry
    mirror: Registry
    down: Registry
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.source.host}/team/app@{self.digest}"

    def at(self, host: str) -> str:
        return f"{host}/mirror/team/app@{self.digest}"

    def node(self, *mirror_hosts: str) -> Path:
        """A host root mirroring ``source/team/app`` to ``mirror_hosts`` in that order."""
        mirrors = [
            {"location": f"{host}/mirror/team/app", "insecure": True} for host in mirror_hosts
        ]
        entry = {
            "prefix": "",
            "location": f"{self.source.host}/team/app",
            "insecure": True,
            "mirror": mirrors,
        }
        conf = {"unqualified-search-registries": [], "registry": [entry]}
        return build_host_root(self.lab, conf)


@pytest.fixture(scope="module")
def world(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base_tarball = debian_base()
    wheels = wheelhouse()
    with ImageLab(tmp_path_factory.mktemp("image-lab")) as images:
        base = images.import_base(base_tarball)
        images.build(IMAGE, base=base, wheels=wheels, python=f"/usr/bin/python{python_tag()}")
        source = lab.start_registry("image-source")
        mirror = lab.start_registry("image-mirror")
        down = lab.start_registry("image-down")
        down.stop()
        app = lab.build_image("team/app:1", size_bytes=16 * 1024)
        digest = lab.push(app, source, "team/app")
        assert lab.push(app, mirror, "mirror/team/app") == digest
        yield World(lab, images, source, mirror, down, digest)


# --------------------------------------------------------------------------------------
# helpers


def in_container(
    world: World,
    command: Sequence[str],
    *,
    root: Optional[Path] = None,
    host: Optional[Path] = None,
    timeout: float = 180.0,
    **options: Any,
) -> Any:
    """``command`` in the agent's image. A host root ``root`` is the container's /host
    (podman runs in its namespace, where it has /usr, /proc...); ``host`` is any folder
    mounted there as it is."""
    cgroups = bool(options.get("pid_host"))  # podman runs --pid host with cgroups only
    if cgroups:
        options["extra"] = world.images.cgroup_options()
    args = container_argv(IMAGE, command, host=root or host, **options)
    argv = world.images.host_root_argv(root, *args) if root else world.images.argv(*args)
    done = world.images.run(argv, timeout=timeout, check=False, cgroups=cgroups)
    assert world.images.remove_cgroups() == []
    return done


def shown(done: Any) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-3000:]}"


def report_of(done: Any, exit_code: int = 0) -> Any:
    assert done.returncode == exit_code, shown(done)
    return json.loads(done.stdout)


def verdicts(report: Mapping[str, Any]) -> dict[str, Any]:
    """What a check concluded, without times, logs, paths and the node's name."""
    return {
        "verdict": report["verdict"],
        "summary": report["summary"],
        "method": report["method"],
        "images": [
            {
                "image": image["image"],
                "verdict": image["verdict"],
                "method": image["method"],
                "expected": image["expected"],
                "attempts": [
                    (a["location"], a["kind"], a["outcome"], a["reason"]) for a in image["attempts"]
                ],
                "servedBy": image["servedBy"],
                "findings": [finding["code"] for finding in image["findings"]],
            }
            for image in report["images"]
        ],
    }


def node_listing(root: Path) -> dict[str, tuple[str, int, int]]:
    """The host root's own files (not the machine's /usr, /proc, /dev, /sys mounted in)."""
    return {
        path: entry
        for path, entry in tree_listing(root).items()
        if path.split("/", 1)[0] not in _MOUNT_POINTS
    }


def left_behind(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """Paths added, removed, or files changed (directories' times do change)."""
    changed = {
        path
        for path, entry in after.items()
        if path in before and entry[0] != "dir" and entry != before[path]
    }
    return (set(after) ^ set(before)) | changed


def fallback_expected(world: World) -> list[tuple[str, str, str, Optional[str]]]:
    return [
        (world.at(world.down.host), "mirror", "failed", "connection-refused"),
        (world.at(world.mirror.host), "mirror", "served", None),
    ]


@pytest.fixture(scope="module")
def outside(world: World) -> dict[str, Any]:
    """The verdicts of ``agent check`` run directly on the machine (as test_check does)."""
    root = world.node(world.down.host, world.mirror.host)
    argv = [str(AGENT), "check", "--host-root", str(root), "--image", world.ref, "-o", "json"]
    done = run_in_host_root(root, argv, lab=world.lab, timeout=180)
    found = verdicts(report_of(done))
    assert found["images"][0]["attempts"] == fallback_expected(world)
    return found


# --------------------------------------------------------------------------------------
# agent check in the image


@pytest.mark.parametrize(
    "options",
    [{}, {"read_only": True}, {"pid_host": True}],
    ids=["privileged", "read-only", "pid-host"],
)
def test_check_in_the_image_gives_the_verdicts_of_the_agent_outside(
    world: World, outside: dict[str, Any], options: dict[str, Any]
) -> None:
    """As ``oc debug node/X --image=<this image> -- agent check`` (``--pid host``) and the
    DaemonSet (``readOnlyRootFilesystem``) run it: the node's root at /host, found there
    without --host-root."""
    root = world.node(world.down.host, world.mirror.host)
    before = node_listing(root)

    done = in_container(
        world, ["agent", "check", "--image", world.ref, "-o", "json"], root=root, **options
    )

    report = report_of(done)
    assert verdicts(report) == outside
    assert report["verdict"] == "warn"
    (image,) = report["images"]
    assert image["findings"][0]["code"] == "fallback-to-later-mirror"
    assert "--root /var/tmp/mirror-agent-" in image["log"]  # a scratch store was used...
    assert list((root / "var/tmp").iterdir()) == []  # the scratch store is gone
    assert left_behind(before, node_listing(root)) <= ALLOWED_LEFTOVERS


def test_version_in_the_image(world: World) -> None:
    done = in_container(world, ["agent", "--version"])
    assert (done.returncode, done.stdout) == (0, "mirror-agent 0.1.0\n"), shown(done)


# --------------------------------------------------------------------------------------
# what is missing, said in one line


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("unprivileged", "the container is not privileged"),
        ("no-host", "/host does not exist: the node's / is not mounted there"),
        ("not-a-node", "/host does not hold a node's root filesystem (no /host/etc/containers)"),
    ],
)
def test_without_what_the_agent_needs_one_line_and_exit_69(
    world: World, tmp_path: Path, setup: str, says: str
) -> None:
    command = ["agent", "check", "--image", world.ref]
    if setup == "unprivileged":
        root = world.node(world.mirror.host)
        done = in_container(world, command, root=root, privileged=False)
    elif setup == "no-host":
        done = in_container(world, command)
    else:
        empty = tmp_path / "empty"
        empty.mkdir()
        done = in_container(world, command, host=empty)
    assert done.returncode == 69, shown(done)
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: cannot work on the node: {says}"), line
    assert "DaemonSet" in line and "oc debug node/" in line


# --------------------------------------------------------------------------------------
# the DaemonSet's container, as its manifest says


def daemonset_container(document: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The container of the DaemonSet (``document``, else daemonset/daemonset.yaml)."""
    daemonset = document or yaml.safe_load(DAEMONSET.read_text())
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    return dict(container)


@dataclass(frozen=True)
class Pod:
    """The DaemonSet's volumes as folders of the test (the host root aside)."""

    checks: Path  # the checks ConfigMap
    run: Path  # the emptyDir of the heartbeat
    account: Path  # the service account's projected token, CA and namespace


def pod_folders(tmp_path: Path, server: FakeApiServer, checks: Mapping[str, str]) -> Pod:
    pod = Pod(tmp_path / "checks", tmp_path / "run", tmp_path / "serviceaccount")
    for folder in (pod.checks, pod.run, pod.account):
        folder.mkdir()
    for key, text in checks.items():
        (pod.checks / key).write_text(text)
    (pod.account / "token").write_text(server.token)
    shutil.copyfile(server.ca_file, pod.account / "ca.crt")
    (pod.account / "namespace").write_text(NAMESPACE)
    return pod


def pod_options(
    pod: Pod, server: FakeApiServer, container: Mapping[str, Any], **changes: Any
) -> dict[str, Any]:
    """podman run options for the DaemonSet's pod: privileged, host network, read-only
    root, its volumes, the in-cluster API settings the kubelet gives every container."""
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    options: dict[str, Any] = {
        "privileged": container["securityContext"]["privileged"],
        "read_only": True,
        "volumes": [
            (pod.checks, mounts["checks"], "ro"),
            (pod.run, mounts["run"], ""),
            (pod.account, SERVICE_ACCOUNT, "ro"),
        ],
        "tmpfs": [mounts["tmp"]],
        "env": {
            "NODE_NAME": NODE,  # the downward API's spec.nodeName
            "POD_NAMESPACE": NAMESPACE,
            "KUBERNETES_SERVICE_HOST": server.host,
            "KUBERNETES_SERVICE_PORT": str(server.port),
        },
    }
    options.update(changes)
    return options


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(token=f"token-{uuid.uuid4().hex}") as api:
        api.add_node(NODE)
        # what `oc apply -k daemonset/` creates besides the kinds the fake serves already
        api.register_kind("", "v1", "serviceaccounts", "ServiceAccount", True)
        for plural, kind, namespaced in (
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        ):
            api.register_kind("rbac.authorization.k8s.io", "v1", plural, kind, namespaced)
        yield api


def pin_by_digest(overlay: Path, name: str, digest: str, images_txt: str) -> None:
    """docs/deploying.md's edits of a copy of daemonset/: the image by digest, the checks."""
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    entry.pop("newTag")
    entry.update({"newName": name, "digest": digest})
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    checks = yaml.safe_load((overlay / "checks-configmap.yaml").read_text())
    checks["data"]["images.txt"] = images_txt
    (overlay / "checks-configmap.yaml").write_text(yaml.safe_dump(checks))


def test_deployment_as_documented_publishes_the_report_in_cluster(
    world: World, server: FakeApiServer, tmp_path: Path
) -> None:
    """docs/deploying.md up to a real cluster: the image mirrored into the site's registry
    (skopeo copy), pinned by digest in the kustomization, applied; the node pulls it by
    digest through a mirror rule while the registry it was published to is unreachable;
    the DaemonSet's container, as applied, runs with in-cluster configuration (plus
    --cycles 1, --jitter 0s) and its report ConfigMap arrives. The DaemonSet's default
    is the manifest method."""
    published_to = world.lab.start_registry("image-release")  # quay.io/<org> for a site
    site = world.lab.start_registry("image-site")  # the disconnected site's registry
    digest_file = tmp_path / "digest"
    world.images.podman(
        "push",
        "--tls-verify=false",
        "--digestfile",
        str(digest_file),
        IMAGE,
        f"docker://{published_to.host}/example/mirror-agent:0.1.0",
    )
    digest = digest_file.read_text().strip()
    copied = world.lab.copy(
        published_to, "example/mirror-agent", "0.1.0", site, "mirror-agent", "0.1.0"
    )
    assert copied == digest

    overlay = tmp_path / "daemonset"
    shutil.copytree(DAEMONSET.parent, overlay)
    pinned = f"{published_to.host}/example/mirror-agent"
    pin_by_digest(overlay, pinned, digest, f"{world.ref}\n")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    apply = ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-k", str(overlay)]
    applied = subprocess.run(
        [*apply, "--validate=false"],  # the fake API server serves no OpenAPI schema
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    daemonset = server.get_object("DaemonSet", "mirror-agent", NAMESPACE)
    assert daemonset is not None
    container = daemonset_container(daemonset)
    assert container["image"] == f"{pinned}@{digest}"

    published_to.stop()  # disconnected: only the mirror rule leads to the image
    world.images.registries_conf_path.write_text(
        "unqualified-search-registries = []\n"
        "[[registry]]\n"
        f'location = "{pinned}"\n'
        "mirror-by-digest-only = true\n"
        "[[registry.mirror]]\n"
        f'location = "{site.host}/mirror-agent"\n'
        "insecure = true\n"
    )
    world.images.podman("pull", container["image"])

    root = world.node(world.down.host, world.mirror.host)
    before = node_listing(root)
    checks = server.get_object("ConfigMap", "mirror-agent-checks", NAMESPACE)
    assert checks is not None
    # From here on the API server enforces the RBAC just applied: the pod's token is the
    # agent's service account (the fake API server's own user), with only those rights.
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    server.use_rbac(doc for doc in yaml.safe_load_all(rendered) if doc)
    pod = pod_folders(tmp_path, server, checks["data"])
    options = pod_options(pod, server, container)
    command = [*container["command"], "--cycles", "1", "--jitter", "0s"]
    args = container_argv(container["image"], command, host=root, **options)
    done = world.images.run(world.images.host_root_argv(root, *args), timeout=180, check=False)

    assert done.returncode == 0, shown(done)
    logged = [json.loads(line) for line in done.stdout.splitlines()]
    # the warn verdict's Node event (docs/commands.md#node-events), then the check's line
    assert [line["event"] for line in logged] == ["node-event", "check"], shown(done)
    assert logged[0]["reason"] == "MirrorCheckWarning"
    event = logged[1]
    assert (event["event"], event["published"], event["verdict"]) == ("check", True, "warn")
    published = server.get_object("ConfigMap", f"mirror-agent-report-{NODE}", REPORTS_NAMESPACE)
    assert published is not None
    assert server.get_object("ConfigMap", "mirror-agent-checks", NAMESPACE) == checks
    report = json.loads(published["data"]["report.json"])
    assert report["node"] == NODE and report["method"] == "manifest"
    (image,) = report["images"]
    assert image["method"] == "manifest"
    found = verdicts(report)["images"][0]
    assert found["attempts"] == fallback_expected(world)
    assert found["findings"] == ["fallback-to-later-mirror"]
    owner = published["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Node", NODE)  # it stays when uninstalled
    assert left_behind(before, node_listing(root)) <= ALLOWED_LEFTOVERS

    # the liveness probe, in the image, reads the heartbeat the agent wrote
    probe = container["livenessProbe"]["exec"]["command"]
    args = container_argv(container["image"], probe, **options)
    healthy = world.images.run(world.images.argv(*args), timeout=60, check=False)
    assert healthy.returncode == 0, shown(healthy)


def _pulling(reference: str) -> bool:
    return any(
        "pull" in (process.info["cmdline"] or []) and reference in (process.info["cmdline"] or [])
        for process in psutil.process_iter(["cmdline"])
    )


def test_sigterm_mid_pull_stops_cleanly_and_removes_the_scratch_store(
    world: World, server: FakeApiServer, tmp_path: Path
) -> None:
    """The pod deleted while podman waits on a mirror that never answers (a "# method=pull"
    line: a real pull into a scratch store): the agent stops podman, removes the store and
    leaves; nothing is published. The heartbeat's folder is not writable here (read-only
    root, no emptyDir): that is logged once, however often the agent tries."""
    hanging = world.lab.start_hanging_server()
    root = world.node(hanging.host, world.mirror.host)
    pod = pod_folders(tmp_path, server, {"images.txt": f"{world.ref}  # method=pull\n"})
    container = daemonset_container()
    options = pod_options(pod, server, container, read_only_tmpfs=False)
    options["volumes"] = [v for v in options["volumes"] if v[0] != pod.run]
    name = f"mirror-agent-{uuid.uuid4().hex[:8]}"
    command = [*container["command"], "--jitter", "0s", "--poll", "1s"]
    args = container_argv(IMAGE, command, name=name, host=root, **options)
    agent = start(world.images.host_root_argv(root, *args), world.images.env())
    try:
        deadline = time.monotonic() + 90
        while not _pulling(world.ref) and time.monotonic() < deadline:
            assert agent.poll() is None, agent.communicate()
            time.sleep(0.2)
        assert _pulling(world.ref), "podman never started pulling"
        time.sleep(1.0)  # podman reaches the mirror that never answers
        world.images.podman("kill", "--signal", "TERM", name)
        done = finish(agent, 60)
    finally:
        if agent.poll() is None:
            kill_tree(agent.pid)
            agent.communicate()
        hanging.stop()

    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    names = [event["event"] for event in events]
    assert names.count("heartbeat-failed") == 1, shown(done)
    assert (
        "Read-only file system"
        in next(e for e in events if e["event"] == "heartbeat-failed")["error"]
    )
    assert [n for n in names if n != "heartbeat-failed"] == ["check-interrupted", "terminated"]
    assert done.returncode == 0, shown(done)
    assert not _pulling(world.ref)
    assert list((root / "var/tmp").iterdir()) == []
    assert server.get_object("ConfigMap", f"mirror-agent-report-{NODE}", REPORTS_NAMESPACE) is None
