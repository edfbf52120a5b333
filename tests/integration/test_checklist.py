"""``agent checklist`` end to end against the fake API server: a healthy cluster and broken
ones, every item's verdict and remediation command.

The DaemonSet is simulated: whenever the checklist sleeps while waiting for reports, every
node that is not silent reads the checks ConfigMap (as the kubelet would mount it) and
publishes a report for each release line, with its own registries.conf's effective entries
(parsed by the agent's registries.conf engine from a file written as the MCO writes it).
What serves a line follows from that line and the node's registries.conf: the sources the
agent's resolution engine gives for it are tried in order, and only the mirror registry
``MIRROR`` answers; a line no entry matches is served by the source it names. Tests that
need the real judge's verdicts build its log (``RealJudgeCluster``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from agent import reference, registries
from agent.cli import progress
from agent.cli.app import main
from agent.commands.analyze import analyze_log
from agent.commands.checks_file import read_image_lines
from agent.kube.client import KubeClient, configmap_path
from agent.kube.config import from_kubeconfig
from agent.kube.publish import report_configmap
from agent.registries.model import CURRENT
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult, timestamp
from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer
from tests.unit.checklist.factories import (
    BACKUP,
    CURRENT_IMAGE,
    DIGEST,
    MIRROR,
    NEW_MIRROR_SET,
    PAYLOAD,
    RELEASE,
    TARGET,
    budget,
    cluster_version,
    daemonset,
    health_check,
    idms,
    new_name_masked,
    node,
    pool,
    signature_configmap,
)

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where the agents publish (NS + -reports)
HEX = DIGEST.split(":", 1)[1]


def mco_file(*sources: tuple[str, list[str]]) -> str:
    """/etc/containers/registries.conf as the MCO (4.13+) writes it for IDMS sources."""
    lines = [
        "unqualified-search-registries = ['registry.access.redhat.com', 'docker.io']",
        'short-name-mode = ""',
    ]
    for source, mirrors in sources:
        lines += [
            "",
            "[[registry]]",
            '  prefix = ""',
            f'  location = "{source}"',
            "  blocked = false",
            "  insecure = false",
            "  mirror-by-digest-only = false",
        ]
        for mirror in mirrors:
            lines += [
                "",
                "  [[registry.mirror]]",
                f'    location = "{mirror}"',
                "    insecure = false",
                '    pull-from-mirror = "digest-only"',
            ]
    return "\n".join(lines) + "\n"


HEALTHY_CONF = mco_file((PAYLOAD, [MIRROR]), (RELEASE, [MIRROR]))


def effective(conf: str) -> list[dict[str, Any]]:
    decoded = registries.decode_file(
        conf, "/etc/containers/registries.conf", drop_in=False, compat=CURRENT
    )
    entries: list[dict[str, Any]] = registries.merge([decoded]).canonical()["registries"]
    return entries


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Cluster:
    """The fake cluster and its simulated mirror-agent DaemonSet."""

    NODES = ("master-0", "worker-0", "worker-1")

    def __init__(self, server: FakeApiServer, tmp_path: Path) -> None:
        self.server = server
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
            ("machine.openshift.io", "v1beta1", "machinehealthchecks", "MachineHealthCheck", True),
            (
                "machineconfiguration.openshift.io",
                "v1",
                "machineconfigpools",
                "MachineConfigPool",
                False,
            ),
            ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
        ):
            server.register_kind(*args)
        for namespace in (
            NS,
            REPORTS_NS,
            "openshift-machine-api",
            "openshift-config-managed",
            "app",
        ):
            server.add_namespace(namespace)
        for name in self.NODES:
            role = "master" if name.startswith("master") else "worker"
            self.put_node(name, role=role)
        server.put(cluster_version())
        server.put(idms("release", (RELEASE, [MIRROR]), (PAYLOAD, [MIRROR])))
        server.put(pool("master", machines=1))
        server.put(pool("worker"))
        server.put(health_check("workers", paused=True))
        server.put(budget("app", "web", allowed=1))
        server.put(signature_configmap())
        server.put(daemonset())
        server.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "mirror-agent-checks", "namespace": NS},
                "data": {"images.txt": "# the administrator's own checks\n"},
            }
        )
        self.kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        self.silent: set[str] = set()
        self.confs: dict[str, str] = {}
        self.served: dict[str, str] = {}  # node -> "source" | "missing-digest" | "wrong-digest"
        self.up = {MIRROR}  # the mirror repositories that answer (others do not resolve)
        self.clock = 0.0
        self.sleeps = 0

    def put_node(self, name: str, **fields: Any) -> None:
        self.server.put(node(name, **fields))

    # -- the simulated DaemonSet -----------------------------------------------------------

    def release_lines(self) -> list[str]:
        checks = self.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
        text = (checks.get("data") or {}).get("checklist.txt", "")
        return [
            image
            for image, method in read_image_lines(text, "checklist.txt")
            if method == "manifest"
        ]

    def report(self, name: str, images: list[str], *, checked_at: Optional[str] = None) -> None:
        results = tuple(self.image_result(name, image) for image in images)
        verdicts = [r.verdict for r in results]
        report = CheckReport(
            node=name,
            checked_at=checked_at or now(),
            verdict="fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass",
            images=results,
            method="pull",
            fingerprint="sha256:" + str(abs(hash(self.confs.get(name, HEALTHY_CONF)))),
            effective_registries=effective(self.confs.get(name, HEALTHY_CONF)),
        )
        node_object = self.server.get_object("Node", name)
        self.server.put(report_configmap(report, namespace=REPORTS_NS, node=node_object))

    def pull_sources(self, name: str, image: str) -> list[tuple[str, str]]:
        """(location, kind) in the order the node's agent tries them for ``image``."""
        config = registries.merge(
            [
                registries.decode_file(
                    self.confs.get(name, HEALTHY_CONF),
                    "/etc/containers/registries.conf",
                    drop_in=False,
                    compat=CURRENT,
                )
            ]
        )
        ref = reference.parse_normalized(image).for_pull()
        return [(s.location, s.kind) for s in registries.pull_sources(config, ref).pull_sources]

    def image_result(self, name: str, image: str) -> ImageResult:
        sources = self.pull_sources(name, image)
        source = next(location for location, kind in sources if kind == "source")
        mirrors = [location for location, kind in sources if kind == "mirror"]
        how = self.served.get(name)
        if how == "source" or not mirrors:  # a mirror reference, or no entry for the image
            return ImageResult(
                image=image,
                verdict="warn",
                served_by=source,
                served_by_kind="source",
                attempts=(AttemptRecord(source, "served", "source"),),
                findings=(Finding("no-mirror-configured", "warn", "pulled from the source"),),
            )
        if how == "wrong-digest":  # every registry is up; none knows the digest
            return ImageResult(
                image=image,
                verdict="fail",
                attempts=(
                    *(AttemptRecord(m, "failed", "mirror", "manifest-unknown") for m in mirrors),
                    AttemptRecord(source, "failed", "source", "manifest-unknown"),
                ),
                findings=(Finding("not-served", "fail", "no source served the image"),),
            )
        if how == "missing-digest":
            return ImageResult(
                image=image,
                verdict="fail",
                attempts=(
                    *(AttemptRecord(m, "failed", "mirror", "manifest-unknown") for m in mirrors),
                    AttemptRecord(source, "failed", "source", "dns"),
                ),
                findings=(Finding("not-served", "fail", "no source served the image"),),
            )
        attempts: list[AttemptRecord] = []
        for mirror in mirrors:  # only the repositories in self.up answer
            if mirror.split("@", 1)[0] in self.up:
                attempts.append(AttemptRecord(mirror, "served", "mirror"))
                first = len(attempts) == 1
                return ImageResult(
                    image=image,
                    verdict="pass" if first else "warn",
                    served_by=mirror,
                    served_by_kind="mirror",
                    attempts=tuple(attempts),
                    findings=(
                        Finding("served-by-mirror", "info", "served by the first mirror")
                        if first
                        else Finding("fallback-to-later-mirror", "warn", "earlier mirrors failed"),
                    ),
                )
            attempts.append(AttemptRecord(mirror, "failed", "mirror", "dns"))
        return ImageResult(
            image=image,
            verdict="fail",
            attempts=(*attempts, AttemptRecord(source, "failed", "source", "dns")),
            findings=(Finding("not-served", "fail", "no source served the image"),),
        )

    def agents_react(self) -> None:
        lines = self.release_lines()
        for name in self.NODES:
            if name not in self.silent:
                self.report(name, lines)

    # -- running the command ---------------------------------------------------------------

    def install_timing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def clock() -> float:
            return self.clock

        def sleep(seconds: float) -> None:
            self.sleeps += 1
            self.clock += seconds
            self.agents_react()

        monkeypatch.setattr(progress, "clock", clock)
        monkeypatch.setattr(progress, "sleep", sleep)

    def run(self, capsys: Any, *argv: str) -> tuple[int, str]:
        code = main([*argv, "--kubeconfig", str(self.kubeconfig)])
        return code, capsys.readouterr().out

    def pre(self, capsys: Any, *extra: str, to_image: str = TARGET) -> tuple[int, dict[str, Any]]:
        code, out = self.run(
            capsys,
            "checklist",
            "pre-upgrade",
            "--to-image",
            to_image,
            "--wait",
            "2m",
            "--poll",
            "15s",
            "-o",
            "json",
            *extra,
        )
        return code, json.loads(out)

    def post(self, capsys: Any, *extra: str) -> tuple[int, dict[str, Any]]:
        code, out = self.run(capsys, "checklist", "post-upgrade", "-o", "json", *extra)
        return code, json.loads(out)


class RealJudgeCluster(Cluster):
    """The agent's own parser and judge (``agent analyze``) over the log ``skopeo --debug
    inspect --raw`` writes for the line, tried in the order the node's registries.conf
    gives: the ``MIRROR`` registry serves, every other host does not resolve."""

    def image_result(self, name: str, image: str) -> ImageResult:
        lines = []
        for location, _kind in self.pull_sources(name, image):
            lines.append(f'time="{now()}" level=debug msg="Trying to access \\"{location}\\""')
            if location.startswith(MIRROR + "@"):
                lines.append('{"schemaVersion":2}')
                break
            host = location.split("/", 1)[0]
            lines.append(
                f'time="{now()}" level=debug msg="Accessing \\"{location}\\" failed: pinging '
                f'container registry {host}: Get \\"https://{host}/v2/\\": dial tcp: lookup '
                f'{host}: no such host"'
            )
        decoded = registries.decode_file(
            self.confs.get(name, HEALTHY_CONF),
            "/etc/containers/registries.conf",
            drop_in=False,
            compat=CURRENT,
        )
        report = analyze_log(
            registries.LoadedHost(registries.merge([decoded]), None),
            "\n".join(lines) + "\n",
            source="skopeo",
            image=image,
            exit_code=0 if lines[-1].startswith("{") else 1,
            checked_at=now(),
            agent_version="test",
        )
        (result,) = report.images
        return result


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    with FakeApiServer(token="checklist-token") as server:
        lab = Cluster(server, tmp_path)
        lab.install_timing(monkeypatch)
        yield lab


def items(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in document["items"]}


def verdicts(document: dict[str, Any]) -> dict[str, str]:
    return {item["id"]: item["verdict"] for item in document["items"]}


ALL_PASS_PRE = {
    "release-resolves-through-mirror": "pass",
    "mirror-rules": "pass",
    "release-signature": "pass",
    "machine-health-checks-paused": "pass",
    "pools-and-nodes": "pass",
    "drain-blockers": "pass",
    "registry-sources": "pass",
    "upgrade-command": "pass",
}


# --- pre-upgrade ---------------------------------------------------------------------------


def test_pre_upgrade_on_a_healthy_cluster(cluster: Cluster, capsys: Any) -> None:
    code, document = cluster.pre(capsys)
    assert verdicts(document) == ALL_PASS_PRE, json.dumps(document, indent=1)[:3000]
    assert code == 0 and document["verdict"] == "pass"
    assert document["cluster"]["ocpVersion"] == "4.14.8"
    assert document["target"]["payloadRepository"] == PAYLOAD
    command = items(document)["upgrade-command"]["remediation"]
    assert command == [f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}"]
    first = items(document)["release-resolves-through-mirror"]
    assert first["summary"] == "all 3 expected nodes resolved it through a mirror"
    assert cluster.sleeps == 1  # one poll: every node reported after the first wait

    # The one write: a key of our own, by server-side apply, next to the admin's key.
    assert document["readOnly"] is False
    (change,) = document["changes"]
    assert (change["name"], change["key"], change["fieldManager"], change["error"]) == (
        "mirror-agent-checks",
        "checklist.txt",
        "mirror-agent-checklist",
        None,
    )
    stored = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS)
    assert stored is not None
    assert stored["data"]["images.txt"] == "# the administrator's own checks\n"
    (line,) = stored["data"]["checklist.txt"].splitlines()
    assert line.startswith(f"{TARGET}  # method=manifest requested=")
    managers = {entry["manager"]: entry for entry in stored["metadata"]["managedFields"]}
    assert managers["mirror-agent-checklist"]["fieldsV1"] == {
        "f:data": {".": {}, "f:checklist.txt": {}}
    }
    applies = [r for r in cluster.server.requests if r.method == "PATCH"]
    assert len(applies) == 1 and applies[0].query["fieldManager"] == "mirror-agent-checklist"
    assert applies[0].headers["content-type"] == "application/apply-patch+yaml"
    # Nothing else was written.
    assert {r.method for r in cluster.server.requests} == {"GET", "PATCH"}


def test_pre_upgrade_twice_keeps_one_line_per_release(cluster: Cluster, capsys: Any) -> None:
    cluster.pre(capsys)
    other = f"{RELEASE}@sha256:" + "77" * 32
    code, document = cluster.pre(capsys, to_image=other)
    assert code == 1 and verdicts(document)["release-signature"] == "fail"  # none for it
    code, _ = cluster.pre(capsys)
    assert code == 0
    stored = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
    lines = stored["data"]["checklist.txt"].splitlines()
    assert [line.split()[0] for line in lines] == [other, TARGET]  # re-requested: moved last


def test_pre_upgrade_on_a_broken_cluster(cluster: Cluster, capsys: Any) -> None:
    server = cluster.server
    # Unpaused health check, degraded pool, no signature, uncovered payload repository,
    # a node whose registries.conf disagrees, a node that never reports, a drain blocker.
    server.put(health_check("infra", paused=False))
    server.put(pool("worker", degraded=True))
    server.delete_object("ConfigMap", "mirrored-release-signatures", "openshift-config-managed")
    server.put(idms("release", (RELEASE, [MIRROR])))
    server.put(budget("app", "db", allowed=0))
    cluster.confs["worker-0"] = mco_file((PAYLOAD, [MIRROR]), (RELEASE, [BACKUP, MIRROR]))
    cluster.silent.add("worker-1")

    code, document = cluster.pre(capsys)
    assert code == 1
    assert verdicts(document) == {
        "release-resolves-through-mirror": "fail",
        "mirror-rules": "fail",
        "release-signature": "fail",
        "machine-health-checks-paused": "fail",
        "pools-and-nodes": "fail",
        "drain-blockers": "warn",
        "registry-sources": "pass",
        "upgrade-command": "warn",
    }
    found = items(document)

    first = found["release-resolves-through-mirror"]
    assert "1 of 3 expected nodes did not resolve the release through a mirror" in first["summary"]
    assert "worker-1: no report from this node" in first["evidence"]
    assert any(e.startswith("waited 120s (--wait): 2 of 3") for e in first["evidence"])
    assert first["remediation"] == [
        f"oc get pods -n {NS} -o wide --field-selector spec.nodeName=worker-1"
    ]
    assert cluster.sleeps == 8  # 120 s at one poll every 15 s

    rules = found["mirror-rules"]
    evidence = "\n".join(rules["evidence"])
    assert f"payload repository {PAYLOAD}: NOT covered" in evidence
    assert f"release repository {RELEASE}: covered by {RELEASE} → {MIRROR}" in evidence
    assert (
        f"1 node(s) worker-0: {RELEASE}: mirrors: expected {MIRROR} (digest-only); the node "
        f"has {BACKUP} (digest-only), {MIRROR} (digest-only)"
    ) in evidence
    assert f"{PAYLOAD}: the node has mirrors no mirror set defines" in evidence
    assert "not compared (no report): worker-1" in evidence
    # The nodes' own rules map the payload to MIRROR: evidence for the mapping.
    assert f"{PAYLOAD} is mirrored at {MIRROR}: a node's registries.conf maps {PAYLOAD} to " in (
        evidence
    )
    assert new_name_masked(rules["remediation"][0]) == (
        "oc apply -f - <<'EOF'\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
        f"metadata:\n  name: {NEW_MIRROR_SET}\nspec:\n  imageDigestMirrors:\n"
        f"  - source: {PAYLOAD}\n    mirrors:\n    - {MIRROR}\nEOF"
    )
    assert "oc describe mcp/worker   # Degraded/NodeDegraded conditions: why a node did not " in (
        "\n".join(rules["remediation"])
    )

    signature = found["release-signature"]
    assert signature["remediation"][2] == (
        "oc apply -f ./release-signatures/   # on a host that reaches the cluster"
    )
    assert found["machine-health-checks-paused"]["remediation"] == [
        'oc annotate machinehealthcheck infra -n openshift-machine-api cluster.x-k8s.io/paused=""'
    ]
    pools = found["pools-and-nodes"]
    assert pools["summary"] == "pool worker DEGRADED"
    assert pools["remediation"] == ["oc describe mcp/worker   # see the Degraded reason"]
    assert found["drain-blockers"]["evidence"] == [
        "app/db: minAvailable 2; 2 healthy of 2 expected; 0 disruptions allowed"
    ]
    upgrade = found["upgrade-command"]
    assert upgrade["remediation"] == [
        f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}"
    ]
    assert "not confirmed (no fresh report): worker-1 (item 1)" in upgrade["evidence"]
    # BACKUP failed on worker-0: never offered
    assert not any(BACKUP in line for line in upgrade["evidence"])


def test_a_missing_permission_affects_only_its_items(cluster: Cluster, capsys: Any) -> None:
    cluster.server.deny("list", "machinehealthchecks", "openshift-machine-api")
    code, document = cluster.pre(capsys)
    assert code == 1
    assert verdicts(document) == {**ALL_PASS_PRE, "machine-health-checks-paused": "fail"}
    health = items(document)["machine-health-checks-paused"]
    assert health["summary"] == (
        "not checked: missing permission: list machinehealthchecks.machine.openshift.io "
        "(in openshift-machine-api)"
    )
    assert health["missingPermissions"] == [
        {
            "verb": "list",
            "resource": "machinehealthchecks.machine.openshift.io",
            "namespace": "openshift-machine-api",
        }
    ]


def test_without_patch_permission_the_check_is_not_requested(cluster: Cluster, capsys: Any) -> None:
    cluster.server.deny("patch", "configmaps", NS)
    code, document = cluster.pre(capsys)
    first = items(document)["release-resolves-through-mirror"]
    assert code == 1 and first["verdict"] == "fail"
    assert first["missingPermissions"] == [
        {"verb": "patch", "resource": "configmaps", "namespace": NS}
    ]
    assert first["remediation"][0] == (
        f"oc edit configmap mirror-agent-checks -n {NS}   # add to data.images.txt: "
        f"{TARGET}  # method=manifest"
    )
    assert document["readOnly"] is True and document["changes"][0]["error"].startswith(
        "missing permission: patch configmaps (in mirror-agent)"
    )
    assert cluster.sleeps == 0  # nothing was requested: no waiting
    # Reports the administrator asked for (same release, by images.txt) still count.
    for name in Cluster.NODES:
        cluster.report(name, [TARGET])
    code, document = cluster.pre(capsys)
    assert items(document)["release-resolves-through-mirror"]["verdict"] == "pass"


def test_creating_the_checks_configmap_needs_create(cluster: Cluster, capsys: Any) -> None:
    # Server-side apply of an object that does not exist yet is authorized as a create.
    cluster.server.delete_object("ConfigMap", "mirror-agent-checks", NS)
    cluster.server.deny("create", "configmaps", NS)
    code, document = cluster.pre(capsys, "--wait", "1s")
    first = items(document)["release-resolves-through-mirror"]
    assert code == 1 and first["missingPermissions"] == [
        {"verb": "create", "resource": "configmaps", "namespace": NS}
    ]
    cluster.server.allow_all()
    code, document = cluster.pre(capsys)
    assert code == 0 and verdicts(document) == ALL_PASS_PRE
    stored = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
    assert list(stored["data"]) == ["checklist.txt"]


def test_wait_zero_looks_once_at_recent_reports_and_writes_nothing(
    cluster: Cluster, capsys: Any
) -> None:
    """--wait 0 cannot wait for a check requested now: it judges the reports of the last
    --max-age (here: those of a run a moment ago) and changes nothing."""
    code, _ = cluster.pre(capsys)
    assert code == 0
    before = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS)
    code, document = cluster.pre(capsys, "--wait", "0")
    assert code == 0 and verdicts(document) == ALL_PASS_PRE
    assert document["changes"] == [] and document["readOnly"] is True
    assert any("--wait 0" in note for note in document["notes"])
    assert cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) == before


def test_a_node_served_by_the_source_or_missing_the_digest(cluster: Cluster, capsys: Any) -> None:
    cluster.served.update({"worker-0": "source", "worker-1": "missing-digest"})
    code, document = cluster.pre(capsys)
    first = items(document)["release-resolves-through-mirror"]
    assert code == 1 and first["verdict"] == "fail"
    assert (
        f"worker-0: served by the source {TARGET}, not a mirror (no-mirror-configured: "
        "pulled from the source)" in first["evidence"]
    )
    assert items(document)["upgrade-command"]["verdict"] == "fail"
    assert items(document)["upgrade-command"]["remediation"] == []


def test_table_markdown_and_junit_output(cluster: Cluster, capsys: Any) -> None:
    cluster.put_node("worker-1", ready=False)
    code, text = cluster.run(
        capsys, "checklist", "pre-upgrade", "--to-image", TARGET, "--wait", "1m"
    )
    assert code == 1
    assert "changes:      applied data key checklist.txt of configmap mirror-agent/" in text
    assert "5. MachineConfigPools updated and not degraded; nodes Ready: FAIL" in text
    assert "     $ oc describe node/worker-1" in text
    assert f"     $ oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}" in text
    code, md = cluster.run(
        capsys, "checklist", "pre-upgrade", "--to-image", TARGET, "-o", "markdown"
    )
    assert md.startswith("### mirror-agent checklist: pre-upgrade")
    assert "| 5 | MachineConfigPools updated and not degraded; nodes Ready | **FAIL** |" in md
    code, xml = cluster.run(capsys, "checklist", "pre-upgrade", "--to-image", TARGET, "-o", "junit")
    suite = ElementTree.fromstring(xml)
    assert (suite.get("tests"), suite.get("failures")) == ("8", "1")


def test_strict_fails_on_warnings(cluster: Cluster, capsys: Any) -> None:
    cluster.server.put(budget("app", "db", allowed=0))
    assert cluster.pre(capsys)[0] == 0
    assert cluster.pre(capsys, "--strict")[0] == 1


def test_the_mirror_reference_and_an_older_cluster(cluster: Cluster, capsys: Any) -> None:
    # On 4.12 only ICSPs count: the IDMS is ignored, so nothing covers the release, and the
    # fix is an ImageContentSourcePolicy. The nodes (rendered from the IDMS) disagree.
    code, document = cluster.pre(capsys, "--ocp-version", "4.12", to_image=f"{MIRROR}@{DIGEST}")
    assert document["target"]["sourceRepository"] == MIRROR  # no rule maps it back on 4.12
    rules = items(document)["mirror-rules"]
    assert rules["verdict"] == "fail"
    assert (
        "the MCO renders ImageContentSourcePolicy only; ignored: ImageDigestMirrorSet/release"
        in ("\n".join(rules["evidence"]))
    )
    # The mirror reference is not mapped to itself; the rules need the source it stands for.
    assert f"{MIRROR} is itself a mirror of {RELEASE} (ImageDigestMirrorSet/release)" in (
        "\n".join(rules["evidence"])
    )
    assert not any(f"source: {MIRROR}" in command for command in rules["remediation"])
    assert rules["remediation"][0].startswith("oc adm release mirror ")
    assert "--print-mirror-instructions" not in rules["remediation"][0]  # oc < 4.14 has none
    # 4.14: the mirror reference maps back to the release repository, and the nodes are
    # asked to check that source (checking the mirror reference would pull it directly).
    code, document = cluster.pre(capsys, to_image=f"{MIRROR}@{DIGEST}")
    assert code == 0 and document["target"]["sourceRepository"] == RELEASE
    assert verdicts(document) == ALL_PASS_PRE
    (line,) = cluster.release_lines()
    assert line == TARGET
    assert items(document)["upgrade-command"]["remediation"] == [
        f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}"
    ]


def test_objects_the_mco_refuses_are_named_and_nodes_are_not_called_drifted(
    cluster: Cluster, capsys: Any
) -> None:
    # An ICSP with an empty mirror and image.config with an empty insecure registry: the MCO
    # (4.14) refuses to render, the pools do not update and the nodes keep the file they
    # have (HEALTHY_CONF, rendered from the release IDMS before these objects came).
    cluster.server.put(
        {
            "apiVersion": "operator.openshift.io/v1alpha1",
            "kind": "ImageContentSourcePolicy",
            "metadata": {"name": "team"},
            "spec": {
                "repositoryDigestMirrors": [
                    {"source": "registry.example.com/team", "mirrors": [BACKUP, ""]}
                ]
            },
        }
    )
    cluster.server.put(
        {
            "apiVersion": "config.openshift.io/v1",
            "kind": "Image",
            "metadata": {"name": "cluster"},
            "spec": {"registrySources": {"insecureRegistries": [""]}},
        }
    )
    code, document = cluster.pre(capsys)
    assert code == 1
    # Item 7 holds nodes to image.config's policy only once the MCO renders it.
    assert verdicts(document) == {
        **ALL_PASS_PRE,
        "mirror-rules": "fail",
        "registry-sources": "warn",
    }
    (why,) = items(document)["registry-sources"]["evidence"]
    assert "the MCO refuses to render the registry configuration (mirror-rules)" in why
    rules = items(document)["mirror-rules"]
    assert rules["summary"] == (
        "the MCO refuses to render the mirror sets: the MachineConfigPools will not update, "
        "nodes keep their current registries.conf"
    )
    assert (
        "MCO refusal: Image/cluster spec.registrySources.insecureRegistries[0]: invalid entry for "
        'insecure registries ""'
    ) in rules["evidence"]
    assert (
        "MCO refusal: ImageContentSourcePolicy/team spec.repositoryDigestMirrors[0].mirrors[1]: "
        "invalid empty entry for mirror configuration"
    ) in rules["evidence"]
    assert rules["remediation"][:2] == [
        "oc get image.config.openshift.io/cluster -o yaml   # fix "
        "spec.registrySources.insecureRegistries[0]",
        "oc get imagecontentsourcepolicy/team -o yaml   # fix "
        "spec.repositoryDigestMirrors[0].mirrors[1]",
    ]
    # No node is called drifted: each is held to its current file.
    assert not any("machine-config-daemon-force" in line for line in rules["remediation"])
    assert not any("no entry on the node" in line for line in rules["evidence"])
    assert [(n["node"], n["verdict"], n["compared"]) for n in rules["details"]["nodes"]] == [
        (name, "pass", True) for name in Cluster.NODES
    ]
    assert [p["kind"] for p in rules["details"]["problems"]] == [
        "Image",
        "ImageContentSourcePolicy",
    ]


def test_a_wildcard_source_with_a_nested_scope_is_a_refusal_on_4_16(
    cluster: Cluster, capsys: Any
) -> None:
    cluster.server.put(idms("corp", ("*.corp.example", ["mirror.example.net/corp"])))
    cluster.server.put(
        {
            "apiVersion": "config.openshift.io/v1",
            "kind": "Image",
            "metadata": {"name": "cluster"},
            "spec": {"registrySources": {"insecureRegistries": ["registry.corp.example"]}},
        }
    )
    code, document = cluster.pre(capsys, "--ocp-version", "4.16")
    rules = items(document)["mirror-rules"]
    assert code == 1 and rules["verdict"] == "fail"
    (line,) = [e for e in rules["evidence"] if e.startswith("MCO refusal:")]
    assert line.startswith(
        "MCO refusal: ImageDigestMirrorSet/corp spec.imageDigestMirrors[0].source: could not "
        "update registries config with new changes: internal error: "
        'mirrorsAdjustedForNestedScope for a wildcard scope "*.corp.example"'
    )
    assert "mirror.example.net/corpexample" not in json.dumps(document)
    assert not any("machine-config-daemon-force" in line for line in rules["remediation"])


#: A minute after now: after the run's request, and within the clock skew tolerated.
SOON = timestamp(datetime.now(timezone.utc) + timedelta(minutes=1))


def test_a_check_of_the_mirror_reference_is_not_the_release_check(
    cluster: Cluster, capsys: Any
) -> None:
    # Reports of the mirror reference itself (e.g. from images.txt) pulled it directly:
    # they do not show that the nodes resolve the release through their mirror rules.
    for name in Cluster.NODES:  # checked after the request: only what was checked matters
        cluster.report(name, [f"{MIRROR}@{DIGEST}"], checked_at=SOON)
    cluster.silent.update(Cluster.NODES)
    code, document = cluster.pre(capsys, "--wait", "0", to_image=f"{MIRROR}@{DIGEST}")
    first = items(document)["release-resolves-through-mirror"]
    assert code == 1 and first["verdict"] == "fail"
    assert {n["state"] for n in first["details"]["nodes"]} == {"missing"}


@pytest.mark.parametrize("to_image", [TARGET, f"{MIRROR}@{DIGEST}"], ids=["source", "mirror"])
def test_both_checklists_with_the_real_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, to_image: str
) -> None:
    with FakeApiServer(token="checklist-token") as server:
        lab = RealJudgeCluster(server, tmp_path)
        lab.install_timing(monkeypatch)
        code, document = lab.pre(capsys, to_image=to_image)
        assert verdicts(document) == ALL_PASS_PRE, json.dumps(items(document), indent=1)[:3000]
        assert code == 0 and lab.release_lines() == [TARGET]
        nodes = items(document)["release-resolves-through-mirror"]["details"]["nodes"]
        assert {(n["state"], n["servedBy"]) for n in nodes} == {("mirror", f"{MIRROR}@{DIGEST}")}
        upgraded(lab, images=lab.release_lines())
        code, document = lab.post(capsys, "--to-image", to_image)
        assert verdicts(document)["node-reports"] == "pass", json.dumps(items(document))[:3000]
        assert code == 0


# --- post-upgrade --------------------------------------------------------------------------


def upgraded(cluster: Cluster, images: Optional[list[str]] = None) -> None:
    """The update went through: new version, nodes rolled out, agents re-checked."""
    server = cluster.server
    server.put(cluster_version(version="4.15.3", image=TARGET))
    for name in Cluster.NODES:
        role = "master" if name.startswith("master") else "worker"
        cluster.put_node(name, role=role, current=f"rendered-{role}-2")
    server.put(health_check("workers", paused=False))
    for name in Cluster.NODES:
        cluster.report(name, [TARGET] if images is None else images)


def test_post_upgrade_on_a_healthy_cluster(cluster: Cluster, capsys: Any) -> None:
    cluster.pre(capsys)
    upgraded(cluster)
    code, document = cluster.post(capsys, "--to-image", TARGET)
    assert verdicts(document) == {
        "cluster-version": "pass",
        "pools-and-nodes": "pass",
        "node-reports": "pass",
        "machine-health-checks-resumed": "pass",
        "checks-cleaned-up": "warn",  # the pre-upgrade line is still there
    }
    assert code == 0 and document["readOnly"] is True and document["changes"] == []
    cleanup = items(document)["checks-cleaned-up"]
    assert cleanup["remediation"][0] == f"agent checklist cleanup -n {NS}"
    assert cluster.post(capsys, "--strict")[0] == 1

    # agent checklist cleanup removes our key and nothing else.
    code, out = cluster.run(capsys, "checklist", "cleanup")
    assert code == 0 and out.startswith(
        "removed data key checklist.txt of configmap mirror-agent/mirror-agent-checks"
    )
    stored = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
    assert stored["data"] == {"images.txt": "# the administrator's own checks\n"}
    assert cluster.run(capsys, "checklist", "cleanup") == (
        0,
        "nothing to remove: no release checks from agent checklist\n",
    )
    code, document = cluster.post(capsys, "--to-image", TARGET, "--strict")
    assert code == 0 and document["verdict"] == "pass"


def test_cleanup_says_so_when_another_manager_took_the_key_over(
    cluster: Cluster, capsys: Any
) -> None:
    """After an `oc edit` of checklist.txt, our server-side apply no longer owns it and
    removes nothing: cleanup must not report it removed."""
    cluster.pre(capsys)
    checks = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) or {}
    text = checks["data"]["checklist.txt"]
    KubeClient(from_kubeconfig(str(cluster.kubeconfig))).request(
        "PATCH",
        configmap_path(NS, "mirror-agent-checks"),
        params={"fieldManager": "kubectl-edit"},
        body=json.dumps({"data": {"checklist.txt": text + "# reviewed\n"}}).encode(),
        content_type="application/merge-patch+json",
    )
    code, out = cluster.run(capsys, "checklist", "cleanup")
    assert code == 1
    assert "is still there: another field manager has written it since" in out
    assert '"op":"remove","path":"/data/checklist.txt"' in out


def test_post_upgrade_on_a_broken_cluster(cluster: Cluster, capsys: Any) -> None:
    cluster.pre(capsys)
    upgraded(cluster)
    server = cluster.server
    history = [
        {"state": "Partial", "version": "4.15.3", "image": TARGET},
        {"state": "Completed", "version": "4.14.8", "image": CURRENT_IMAGE},
    ]
    server.put(cluster_version(version="4.15.3", image=TARGET, progressing=True, history=history))
    server.put(health_check("workers", paused=True))
    server.put(pool("worker", updated=False))
    cluster.put_node("worker-1", current="rendered-worker-2", desired="rendered-worker-3")
    cluster.put_node("worker-0", current="rendered-worker-3")  # rolled out after its report
    cluster.served["master-0"] = "source"
    cluster.report("master-0", [TARGET])

    code, document = cluster.post(capsys)
    assert code == 1
    assert verdicts(document) == {
        "cluster-version": "fail",
        "pools-and-nodes": "fail",
        "node-reports": "fail",
        "machine-health-checks-resumed": "fail",
        "checks-cleaned-up": "warn",
    }
    found = items(document)
    assert found["cluster-version"]["summary"] == "the latest update is Partial; still Progressing"
    assert found["machine-health-checks-resumed"]["remediation"] == [
        "oc annotate machinehealthcheck workers -n openshift-machine-api cluster.x-k8s.io/paused-"
    ]
    assert found["pools-and-nodes"]["remediation"] == [
        "oc wait mcp/worker --for=condition=Updated=True --timeout=60m"
    ]
    rows = {row["node"]: row for row in found["node-reports"]["details"]["nodes"]}
    assert rows["worker-0"]["problems"] == [
        "checked under rendered-worker-2, before the rollout of rendered-worker-3"
    ]
    assert rows["worker-1"]["problems"] == [
        "Machine Config rollout to rendered-worker-3 still in progress"
    ]
    assert rows["master-0"]["problems"][-1] == f"contacted a source registry for {TARGET}"
    assert (
        f"oc delete pod -n {NS} -l app.kubernetes.io/name=mirror-agent --field-selector "
        "spec.nodeName=worker-0   # re-checks at start"
    ) in found["node-reports"]["remediation"]


def test_post_upgrade_with_a_forbidden_resource(cluster: Cluster, capsys: Any) -> None:
    upgraded(cluster)
    cluster.server.deny("get", "clusterversions")
    code, document = cluster.post(capsys)
    assert code == 1 and verdicts(document)["cluster-version"] == "fail"
    assert items(document)["cluster-version"]["summary"] == (
        "not checked: missing permission: get clusterversions.config.openshift.io"
    )
    assert verdicts(document)["node-reports"] == "pass"


# --- the RBAC docs/checklist.md gives the checklist user, enforced ---------------------------


def documented_rbac() -> list[dict[str, Any]]:
    """The roles under "RBAC for the checklist user" in docs/checklist.md, as written."""
    text = (PROJECT_ROOT / "docs" / "checklist.md").read_text()
    section = text[text.index("## RBAC for the checklist user") :]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert block, "docs/checklist.md: no yaml block under RBAC for the checklist user"
    return [doc for doc in yaml.safe_load_all(block.group(1)) if doc]


def bound_to(user: str, roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each documented role bound to ``user``, where the role lives."""
    bindings = []
    for role in roles:
        meta = role["metadata"]
        binding: dict[str, Any] = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding" if role["kind"] == "Role" else "ClusterRoleBinding",
            "metadata": {"name": meta["name"], **({"namespace": meta["namespace"]}
                                                  if "namespace" in meta else {})},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"],
                        "name": meta["name"]},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }  # fmt: skip
        bindings.append(binding)
    return [*roles, *bindings]


def as_admin(cluster: Cluster, tmp_path: Path, roles: list[dict[str, Any]]) -> None:
    """From now on the API server enforces ``roles``, bound to the user the kubeconfig
    logs in as (the simulated agents write their reports past the authorizer)."""
    cluster.server.use_rbac(bound_to("alice", roles))
    cluster.server.issue_token("alice-token", "alice")
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "alice-token"
    cluster.kubeconfig = tmp_path / "alice.kubeconfig"
    cluster.kubeconfig.write_text(json.dumps(config))


def test_the_documented_rbac_names_both_namespaces_and_is_enough(
    cluster: Cluster, capsys: Any, tmp_path: Path
) -> None:
    roles = documented_rbac()
    namespaces = {r["metadata"].get("namespace") for r in roles if r["kind"] == "Role"}
    assert {NS, REPORTS_NS} <= namespaces
    as_admin(cluster, tmp_path, roles)
    code, document = cluster.pre(capsys)
    missing = {
        i["id"]: i["missingPermissions"] for i in document["items"] if i["missingPermissions"]
    }
    assert missing == {}
    assert verdicts(document) == ALL_PASS_PRE and code == 0
    assert [change["error"] for change in document["changes"]] == [None]
    upgraded(cluster)
    code, document = cluster.post(capsys, "--to-image", TARGET)
    assert [i["id"] for i in document["items"] if i["missingPermissions"]] == []
    assert verdicts(document)["node-reports"] == "pass"
    code, out = cluster.run(capsys, "checklist", "cleanup")
    assert code == 0 and out.startswith("removed data key checklist.txt")


def test_without_the_reports_role_the_node_reports_are_a_missing_permission(
    cluster: Cluster, capsys: Any, tmp_path: Path
) -> None:
    """The second namespace of the documented RBAC is needed: without its Role, the items
    that read the reports name what is missing (list configmaps in mirror-agent-reports)."""
    roles = [r for r in documented_rbac() if r["metadata"].get("namespace") != REPORTS_NS]
    as_admin(cluster, tmp_path, roles)
    _, document = cluster.pre(capsys, "--wait", "0")
    first = items(document)["release-resolves-through-mirror"]
    assert first["missingPermissions"] == [
        {"verb": "list", "resource": "configmaps", "namespace": REPORTS_NS}
    ]
