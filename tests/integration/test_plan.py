"""``agent plan`` end to end: the fake API server holding the current mirror sets, reports
and ClusterVersion, plus the files oc-mirror writes (tests/data/oc-mirror); a node's
registries.conf without any API; and ``--probe`` against the lab's real registries.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agent.cli.app import main
from agent.cli.plan import PlanWaiting
from tests.support.data import DATA, require
from tests.support.fake_apiserver import FakeApiServer
from tests.support.lab import Lab, Registry
from tests.unit.checklist.factories import (
    DIGEST,
    MIRROR,
    NS,
    PAYLOAD,
    RELEASE,
    REPORTS_NS,
    TARGET,
    cluster_version,
    daemonset,
    idms,
    node,
    release_image,
    report_configmap,
)

AGENT = Path(sys.executable).with_name("agent")
IDMS_FILE = require(DATA / "oc-mirror" / "idms-oc-mirror.yaml")
ITMS_FILE = require(DATA / "oc-mirror" / "itms-oc-mirror.yaml")
NEW_MIRROR = "registry.disconnected.example:8443/ocp4"
OPERATOR = f"registry.redhat.io/redhat/some-operator@{DIGEST}"
UBI = "registry.access.redhat.com/ubi8/ubi-minimal:8.10"
EARLIER = "2020-01-01T00:00:00Z"  # the nodes' last reports, before the plan's request


@dataclass
class Cluster:
    server: FakeApiServer
    kubeconfig: Path

    def plan(self, capsys: Any, *args: str) -> tuple[int, dict[str, Any]]:
        code = main(["plan", "--kubeconfig", str(self.kubeconfig), *args, "-o", "json"])
        out = capsys.readouterr().out
        return code, json.loads(out)

    def table(self, capsys: Any, *args: str) -> tuple[int, str]:
        code = main(["plan", "--kubeconfig", str(self.kubeconfig), *args])
        return code, capsys.readouterr().out


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with FakeApiServer(token="plan-token") as server:
        for args in (
            ("config.openshift.io", "v1", "clusterversions", "ClusterVersion", False),
            ("config.openshift.io", "v1", "imagedigestmirrorsets", "ImageDigestMirrorSet", False),
            ("config.openshift.io", "v1", "imagetagmirrorsets", "ImageTagMirrorSet", False),
            ("config.openshift.io", "v1", "images", "Image", False),
            (
                "operator.openshift.io",
                "v1alpha1",
                "imagecontentsourcepolicies",
                "ImageContentSourcePolicy",
                False,
            ),
        ):
            server.register_kind(*args)
        server.add_namespace(NS)
        server.add_namespace(REPORTS_NS)
        server.put(cluster_version())  # 4.14.8
        server.put(idms("release", (RELEASE, [MIRROR]), (PAYLOAD, [MIRROR])))
        server.put(daemonset())
        for name in ("master-0", "worker-0"):
            server.put(node(name, role=name.split("-")[0]))
            server.put(report_configmap(name, images=[release_image()], checked_at=EARLIER))
        yield Cluster(server, server.write_kubeconfig(tmp_path / "kubeconfig"))


def by_image(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {image["image"]: image for image in document["images"]}


def change_kinds(image: dict[str, Any]) -> list[str]:
    return [change["kind"] for change in image["changes"]]


def test_oc_mirror_files_over_the_current_objects(cluster: Cluster, capsys: Any) -> None:
    code, document = cluster.plan(
        capsys,
        *("-f", str(IDMS_FILE), "-f", str(ITMS_FILE)),
        *("--from-reports", "--image", OPERATOR, "--image", UBI),
    )
    assert code == 0, document
    assert (document["ocpVersion"], document["ocpVersionFrom"]) == ("4.14.8", "ClusterVersion")
    assert [(o["kind"], o["name"], o["action"]) for o in document["objects"]] == [
        ("ImageDigestMirrorSet", "idms-release-0", "created"),
        ("ImageDigestMirrorSet", "idms-operator-0", "created"),
        ("ImageTagMirrorSet", "itms-generic-0", "created"),
    ]
    images = by_image(document)
    # The release was checked by the nodes; the old, more specific entries still win.
    release = images[TARGET]
    assert release["from"] == "reports" and release["changes"] == []
    assert "quay.io/openshift-release-dev" in document["unexercisedEntries"]
    operator = images[OPERATOR]
    assert change_kinds(operator) == ["entry-changed", "mirror-added"]
    assert [s["location"] for s in operator["after"]["sources"]] == [
        f"{NEW_MIRROR}/redhat/some-operator@{DIGEST}",
        OPERATOR,
    ]
    ubi = images[UBI]
    assert change_kinds(ubi) == ["entry-changed", "mirror-added"]
    assert ubi["after"]["sources"][0]["location"] == f"{NEW_MIRROR}/ubi8/ubi-minimal:8.10"
    # read-only
    assert {r.method for r in cluster.server.requests} == {"GET"}


def test_reports_a_plan_cannot_use_are_skipped_with_a_note(cluster: Cluster, capsys: Any) -> None:
    # one node checked a short name, another's report is not JSON: the others still plan
    cluster.server.put(node("worker-1", role="worker"))
    cluster.server.put(node("worker-2", role="worker"))
    short = release_image(image="busybox:latest")
    cluster.server.put(report_configmap("worker-1", images=[short], checked_at=EARLIER))
    broken = report_configmap("worker-2", checked_at=EARLIER)
    broken["data"]["report.json"] = "{not json"
    cluster.server.put(broken)
    code, document = cluster.plan(capsys, "-f", str(IDMS_FILE), "--from-reports")
    assert code == 0, document
    assert TARGET in by_image(document)
    notes = "\n".join(document["notes"])
    assert (
        "image 'busybox:latest' is a short name" in notes
        and f"node worker-1, ConfigMap {REPORTS_NS}/mirror-agent-report-worker-1" in notes
    )
    assert (
        f"node worker-2, ConfigMap {REPORTS_NS}/mirror-agent-report-worker-2 is not readable"
        in notes
    )


def test_an_empty_reports_namespace_names_where_earlier_agents_publish(
    cluster: Cluster, capsys: Any
) -> None:
    """Upgraded from a version that published beside the checks: the reports are still in
    mirror-agent, none in mirror-agent-reports. The plan says so, naming both."""
    for old in cluster.server.objects("ConfigMap", REPORTS_NS):
        assert cluster.server.delete_object("ConfigMap", old["metadata"]["name"], REPORTS_NS)
        old["metadata"]["namespace"] = NS
        cluster.server.put(old)
    code, document = cluster.plan(capsys, "-f", str(IDMS_FILE), "--from-reports")
    assert code == 0, document
    (note,) = [n for n in document["notes"] if n.startswith("no node report in namespace")]
    assert note.startswith(f"no node report in namespace {REPORTS_NS}:")
    assert f"publish in {NS};" in note and "docs/deploying.md (Upgrade)" in note
    code, table = cluster.table(capsys, "-f", str(IDMS_FILE), "--from-reports")
    assert note in table


def test_a_cluster_version_without_version_says_which_rules_were_used(
    cluster: Cluster, capsys: Any
) -> None:
    without = cluster_version()
    without["status"] = {"desired": {"image": without["status"]["desired"]["image"]}}
    cluster.server.put(without)
    code, document = cluster.plan(capsys, "-f", str(IDMS_FILE), "--image", OPERATOR)
    assert code == 0, document
    assert document["ocpVersionFrom"] == "unknown"
    assert any(
        "ClusterVersion gives no version: rendering with the rules of current MCO releases" in note
        for note in document["notes"]
    )


def test_deleting_the_old_set_moves_the_release_to_the_new_mirror(
    cluster: Cluster, capsys: Any
) -> None:
    code, document = cluster.plan(
        capsys, "-f", str(IDMS_FILE), "--delete", "release", "--from-reports"
    )
    assert code == 0
    release = by_image(document)[TARGET]
    assert change_kinds(release) == ["entry-changed", "mirror-added", "mirror-removed"]
    assert [s["location"] for s in release["after"]["sources"]] == [
        f"{NEW_MIRROR}/openshift-release-dev/ocp-release@{DIGEST}",
        TARGET,
    ]
    assert document["objects"][-1] == {
        "kind": "ImageDigestMirrorSet",
        "name": "release",
        "action": "deleted",
        "from": "--delete",
    }


def test_a_change_that_breaks_a_pull_exits_1(cluster: Cluster, capsys: Any, tmp_path: Path) -> None:
    blocking = tmp_path / "block.yaml"
    text = IDMS_FILE.read_text().replace(
        "    source: quay.io/openshift-release-dev\n",
        "    source: quay.io/openshift-release-dev\n    mirrorSourcePolicy: NeverContactSource\n",
    )
    blocking.write_text(text)
    by_tag = f"{RELEASE}:4.15.0-x86_64"
    code, out = cluster.table(
        capsys, "-f", str(blocking), "--delete", "idms/release", "--image", by_tag
    )
    assert code == 1, out
    assert "NO LONGER RESOLVES" in out
    assert "BREAKS PULLS: 1 of 1 images would no longer resolve" in out


def test_invalid_objects_exit_2_naming_object_field_and_rule(
    cluster: Cluster, capsys: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        IDMS_FILE.read_text().replace(
            "source: registry.redhat.io/rhel9", "source: registry.redhat.io/rhel9:latest"
        )
    )
    code, out = cluster.table(capsys, "-f", str(bad))
    assert code == 2
    assert (
        "ERROR    ImageDigestMirrorSet/idms-operator-0: spec.imageDigestMirrors[1].source: "
        "the source 'registry.redhat.io/rhel9:latest' has a tag" in out
    )
    assert "[source-scope]" in out and out.rstrip().endswith("fix the objects before applying them")


def test_an_older_cluster_does_not_serve_idms(cluster: Cluster, capsys: Any) -> None:
    code, document = cluster.plan(capsys, "-f", str(IDMS_FILE), "--ocp-version", "4.12")
    assert code == 2
    assert {(p["object"], p["rule"]) for p in document["problems"]} == {
        ("ImageDigestMirrorSet/idms-release-0", "kind-not-served"),
        ("ImageDigestMirrorSet/idms-operator-0", "kind-not-served"),
        ("ImageDigestMirrorSet/release", "kind-not-served"),
    }
    assert {p["severity"] for p in document["problems"] if p["object"].endswith("/release")} == {
        "warning"  # already on the cluster
    }


def test_a_forbidden_mirror_list_is_the_environments_fault(cluster: Cluster, capsys: Any) -> None:
    cluster.server.deny("list", "imagedigestmirrorsets.config.openshift.io")
    code = main(["plan", "--kubeconfig", str(cluster.kubeconfig), "-f", str(IDMS_FILE)])
    captured = capsys.readouterr()
    assert code == 69
    assert "cannot read imagedigestmirrorsets.config.openshift.io" in captured.err
    assert captured.out == ""


# --- --probe-on-nodes: the DaemonSet asks the new mirrors ---------------------------------


def nodes_answer(cluster: Cluster, lacking: dict[str, set[str]]) -> list[str]:
    """Each node reads plan.txt (as the mounted checks file) and publishes a report in
    which every line is served, except those in ``lacking[node]`` (manifest unknown)."""
    seen: list[str] = []
    checks = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
    text = (checks.get("data") or {}).get("plan.txt", "")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines() if line.strip()]
    seen += lines
    for name in ("master-0", "worker-0"):
        images = []
        for location in lines:
            if location in lacking.get(name, set()):
                attempts = [(location, "source", "failed", "manifest-unknown")]
                images.append(
                    release_image(
                        image=location, served_by=None, kind=None, verdict="fail", attempts=attempts
                    )
                )
            else:
                images.append(release_image(image=location, served_by=location, kind="source"))
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        cluster.server.put(report_configmap(name, images=images, checked_at=stamp))
    return seen


@pytest.mark.parametrize("lacking", [{"worker-0"}, set()])
def test_probe_on_nodes_through_the_checks_configmap(
    cluster: Cluster, capsys: Any, monkeypatch: pytest.MonkeyPatch, lacking: set[str]
) -> None:
    new_location = f"{NEW_MIRROR}/openshift-release-dev/ocp-release@{DIGEST}"
    written: list[str] = []

    def sleep(seconds: float) -> None:
        written.extend(nodes_answer(cluster, {name: {new_location} for name in lacking}))

    monkeypatch.setattr(PlanWaiting, "sleep", staticmethod(sleep))
    code, document = cluster.plan(
        capsys,
        "-f",
        str(IDMS_FILE),
        "--delete",
        "release",
        "--from-reports",
        "--probe-on-nodes",
        "--wait",
        "20s",
    )
    assert written == [new_location]
    ((probe),) = document["probes"]
    assert probe["location"] == new_location
    if lacking:
        assert code == 1
        assert (probe["outcome"], probe["message"]) == ("missing", "worker-0: manifest-unknown")
    else:
        assert code == 0
        assert (probe["outcome"], probe["message"]) == ("present", "served on 2 node(s)")
    # the key is gone again; the ConfigMap is otherwise untouched
    checks = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
    assert "plan.txt" not in (checks.get("data") or {})
    managers = {r.query.get("fieldManager") for r in cluster.server.requests if r.method == "PATCH"}
    assert managers == {"mirror-agent-plan"}
    assert any("--probe-on-nodes: 2 of 2 nodes answered" in note for note in document["notes"])


def test_probe_on_nodes_without_answers_or_permission(cluster: Cluster, capsys: Any) -> None:
    args = ("-f", str(IDMS_FILE), "--delete", "release", "--from-reports", "--probe-on-nodes")
    code, document = cluster.plan(capsys, *args, "--wait", "0")
    assert code == 1  # nobody answered: not confirmed
    (probe,) = document["probes"]
    assert (probe["outcome"], probe["message"]) == (
        "error",
        "no node answered (2 of 2 nodes did not answer)",
    )
    cluster.server.deny("patch", "configmaps", NS)
    code = main(["plan", "--kubeconfig", str(cluster.kubeconfig), *args])
    assert code == 69
    assert "cannot write configmap mirror-agent/mirror-agent-checks" in capsys.readouterr().err


# --- no API: a node's registries.conf ----------------------------------------------------


NODE_CONF = f"""unqualified-search-registries = ['registry.access.redhat.com', 'docker.io']
short-name-mode = ""

[[registry]]
  prefix = ""
  location = "{RELEASE}"
  mirror-by-digest-only = false

  [[registry.mirror]]
    location = "{MIRROR}"
    pull-from-mirror = "digest-only"
"""


def test_registries_conf_mode_needs_no_api(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    conf = tmp_path / "registries.conf"
    conf.write_text(NODE_CONF)
    code = main(
        [
            *("plan", "--registries-conf", str(conf), "--ocp-version", "4.14"),
            *("-f", str(IDMS_FILE), "--image", TARGET, "--image", OPERATOR, "-o", "json"),
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["mode"] == "registries-conf"
    images = by_image(document)
    assert images[TARGET]["changes"] == []  # the node's own, more specific entry wins
    assert change_kinds(images[OPERATOR]) == ["entry-changed", "mirror-added"]
    assert not any("not what the MCO renders" in note for note in document["notes"])


BLOCKED_WITH_MIRROR = """
[[registry]]
location = "docker.io"
blocked = true
[[registry.mirror]]
location = "hub.mirror.example/dockerio"
pull-from-mirror = "digest-only"
"""


def test_a_blocked_entry_with_mirrors_is_ambiguous_not_a_policy_conflict(
    tmp_path: Path, capsys: Any
) -> None:
    # blocked + mirrors renders from NeverContactSource or from blockedRegistries: a new
    # AllowContactingSource set for the source is no conflict with an object that exists
    conf = tmp_path / "registries.conf"
    conf.write_text(BLOCKED_WITH_MIRROR)
    proposed = tmp_path / "idms.yaml"
    proposed.write_text(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
        "metadata: {name: hub}\nspec:\n  imageDigestMirrors:\n"
        "  - source: docker.io\n    mirrors: [hub2.mirror.example/dockerio]\n"
    )
    image = f"docker.io/library/busybox@{DIGEST}"
    code = main(
        [
            *("plan", "--registries-conf", str(conf), "--ocp-version", "4.14"),
            *("-f", str(proposed), "--image", image, "-o", "json"),
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document["problems"]
    assert not [p for p in document["problems"] if p["rule"] == "mirror-source-policy-conflict"]
    assert any("oc get idms,itms" in note for note in document["notes"])
    after = by_image(document)[image]["after"]
    assert after["resolves"]
    assert [s["location"].split("@")[0] for s in after["sources"]] == [
        "hub.mirror.example/dockerio/library/busybox",
        "hub2.mirror.example/dockerio/library/busybox",
        "docker.io/library/busybox",
    ]
    assert after["sources"][-1]["blocked"]


def test_a_directory_and_stdin_are_read_as_oc_apply_reads_them(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(NODE_CONF)
    folder = tmp_path / "cluster-resources"
    folder.mkdir()
    (folder / "b-itms.yml").write_text(ITMS_FILE.read_text())
    (folder / "a-idms.yaml").write_text(IDMS_FILE.read_text())
    (folder / "c-deploy.json").write_text(
        json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}})
    )
    (folder / "README.md").write_text("not an object")
    base = ["plan", "--registries-conf", str(conf), "--ocp-version", "4.14", "-o", "json"]
    code = main([*base, "-f", str(folder)])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert [(o["name"], o["from"].split(" (")[0]) for o in document["objects"]] == [
        ("idms-release-0", str(folder / "a-idms.yaml")),
        ("idms-operator-0", str(folder / "a-idms.yaml")),
        ("itms-generic-0", str(folder / "b-itms.yml")),
    ]
    assert any("Deployment/d" in note and "not a mirror set" in note for note in document["notes"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(IDMS_FILE.read_text()))
    code = main([*base, "-f", "-"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert document["objects"][0]["from"] == "stdin (document 1)"


def test_a_host_root_without_registries_conf_is_not_an_empty_node(
    tmp_path: Path, capsys: Any
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    args = ["plan", "--host-root", str(root), "-f", str(IDMS_FILE), "--image", OPERATOR]
    assert main(args) == 2
    assert f"no etc/containers/registries.conf under {root}" in capsys.readouterr().err
    drop_ins = root / "etc" / "containers" / "registries.conf.d"
    drop_ins.mkdir(parents=True)
    (drop_ins / "01-mirror.conf").write_text(NODE_CONF)
    assert main([*args, "-o", "json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any(
        "no etc/containers/registries.conf under" in note and "01-mirror.conf" in note
        for note in notes
    )


def test_registries_conf_mode_refuses_what_needs_the_cluster(tmp_path: Path, capsys: Any) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(NODE_CONF)
    for extra in (["--from-reports"], ["--delete", "release"]):
        code = main(["plan", "--registries-conf", str(conf), "-f", str(IDMS_FILE), *extra])
        assert code == 2
        assert "error:" in capsys.readouterr().err


# --- --probe against the lab's registries ------------------------------------------------


@dataclass(frozen=True)
class ProbeWorld:
    lab: Lab
    source: Registry
    mirror: Registry  # holds the image: the node's current mirror
    new: Registry  # the new first mirror: empty
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.source.host}/team/app@{self.digest}"

    def node_conf(self) -> str:
        lines = [
            "[[registry]]",
            f'location = "{self.source.host}/team"',
            "insecure = true",
            "[[registry.mirror]]",
            f'location = "{self.mirror.host}/mirror/team"',
            "insecure = true",
            'pull-from-mirror = "digest-only"',
        ]
        for registry in (self.mirror, self.new):  # insecureRegistries as the MCO renders them
            lines += ["[[registry]]", f'location = "{registry.host}"', "insecure = true"]
        return "\n".join(lines) + "\n"

    def idms_file(self) -> str:
        return (
            "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
            "metadata:\n  name: idms-generic-0\nspec:\n  imageDigestMirrors:\n"
            f"  - mirrors:\n    - {self.new.host}/mirror/team\n"
            f"    - {self.mirror.host}/mirror/team\n"
            f"    source: {self.source.host}/team\n"
        )


@pytest.fixture(scope="module")
def probe_world(lab: Lab) -> ProbeWorld:
    source = lab.start_registry("plan-source")
    mirror = lab.start_registry("plan-mirror")
    new = lab.start_registry("plan-new")
    image = lab.build_image("team/app:1", size_bytes=4096)
    digest = lab.push(image, source, "team/app")
    assert lab.push(image, mirror, "mirror/team/app") == digest
    return ProbeWorld(lab, source, mirror, new, digest)


def run_plan_probe(world: ProbeWorld, tmp_path: Path, *images: str) -> tuple[int, dict[str, Any]]:
    conf = tmp_path / "registries.conf"
    conf.write_text(world.node_conf())
    objects = tmp_path / "idms.yaml"
    objects.write_text(world.idms_file())
    argv = [str(AGENT), "plan", "--registries-conf", str(conf), "--ocp-version", "4.14"]
    argv += ["-f", str(objects), "--probe", "--probe-timeout", "30", "-o", "json"]
    for image in images:
        argv += ["--image", image]
    # skopeo runs in the lab's sandbox: its /etc/containers, not the machine's
    result = world.lab.run_sandboxed(argv, check=False, timeout=120)
    assert result.stdout.startswith("{"), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_probe_finds_the_new_first_mirror_lacking_the_digest(
    probe_world: ProbeWorld, tmp_path: Path
) -> None:
    tag = f"{probe_world.source.host}/team/app:1"
    code, document = run_plan_probe(probe_world, tmp_path, probe_world.ref, tag)
    assert code == 1
    new_location = f"{probe_world.new.host}/mirror/team/app@{probe_world.digest}"
    ((probe),) = document["probes"]  # the current mirror is not asked: it serves today
    assert (probe["image"], probe["location"], probe["outcome"]) == (
        probe_world.ref,
        new_location,
        "missing",
    )
    assert "manifest unknown" in probe["message"].lower()
    assert document["notProbed"] == []  # the tag is skipped by digest-only mirrors: no new one
    assert document["breaking"] == 0


def test_probe_passes_once_the_new_mirror_holds_the_image(
    probe_world: ProbeWorld, tmp_path: Path
) -> None:
    world = probe_world
    world.lab.copy(world.mirror, "mirror/team/app", world.digest, world.new, "mirror/team/app", "1")
    code, document = run_plan_probe(world, tmp_path, world.ref)
    assert code == 0, document
    assert [p["outcome"] for p in document["probes"]] == ["present"]
