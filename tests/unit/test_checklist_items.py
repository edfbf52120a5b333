"""Every checklist item as a pure function over fetched objects (agent/checklist/items.py).

The factories here build objects as the API returns them; tests/integration/test_checklist.py
uses them to seed the fake API server.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Optional

import pytest

from agent.checklist.items import (
    checks_cleanup_item,
    cluster_version_item,
    cluster_version_of,
    drain_blockers_item,
    health_checks_paused_item,
    health_checks_resumed_item,
    is_fresh,
    mirror_rules_item,
    node_reports_item,
    pools_and_nodes_item,
    release_check,
    release_item,
    signature_item,
    upgrade_command_item,
)
from agent.checklist.mirrors import coverage, render_registries
from agent.checklist.model import FAIL, PASS, WARN, Permission, Unavailable
from agent.checklist.run import checklist_line
from agent.checklist.snapshot import NodeState, Reports, Snapshot
from agent.checklist.target import Target, matches, parse_target, with_source
from agent.collect import CURRENT_CONFIG, DESIRED_CONFIG, MCD_STATE, NODE_ANNOTATION, REPORT_KEY
from agent.errors import UsageError

RELEASE = "quay.io/openshift-release-dev/ocp-release"
PAYLOAD = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
MIRROR = "mirror.corp.example:8443/ocp4/openshift4"
BACKUP = "backup.corp.example/ocp4/openshift4"
DIGEST = "sha256:" + "5e" * 32
CURRENT_IMAGE = f"{RELEASE}@sha256:" + "c0" * 32
TARGET = f"{RELEASE}@{DIGEST}"
NS = "mirror-agent"
SINCE = "2030-01-01T10:00:00Z"
LATER = "2030-01-01T10:02:00Z"
EARLIER = "2030-01-01T09:00:00Z"


# --- factories (objects as the API returns them) ---------------------------------------------


def node(
    name: str,
    *,
    role: str = "worker",
    ready: bool = True,
    current: Optional[str] = None,
    desired: Optional[str] = None,
    unschedulable: bool = False,
    labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    current = current or f"rendered-{role}-1"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {f"node-role.kubernetes.io/{role}": "", **(labels or {})},
            "annotations": {
                CURRENT_CONFIG: current,
                DESIRED_CONFIG: desired or current,
                MCD_STATE: "Done" if (desired or current) == current else "Working",
            },
        },
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                }
            ]
        },
    }


def pool(
    name: str,
    *,
    updated: bool = True,
    degraded: bool = False,
    paused: bool = False,
    machines: int = 2,
) -> dict[str, Any]:
    def condition(kind: str, value: bool) -> dict[str, str]:
        return {"type": kind, "status": "True" if value else "False"}

    return {
        "apiVersion": "machineconfiguration.openshift.io/v1",
        "kind": "MachineConfigPool",
        "metadata": {"name": name},
        "spec": {"paused": paused},
        "status": {
            "configuration": {"name": f"rendered-{name}-1"},
            "machineCount": machines,
            "updatedMachineCount": machines if updated else machines - 1,
            "degradedMachineCount": 1 if degraded else 0,
            "conditions": [
                condition("Updated", updated),
                condition("Updating", not updated),
                condition("Degraded", degraded),
            ],
        },
    }


def health_check(name: str, *, paused: bool) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "openshift-machine-api"}
    if paused:
        metadata["annotations"] = {"cluster.x-k8s.io/paused": ""}
    return {
        "apiVersion": "machine.openshift.io/v1beta1",
        "kind": "MachineHealthCheck",
        "metadata": metadata,
        "spec": {"selector": {}},
    }


def budget(namespace: str, name: str, *, allowed: int, expected: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"minAvailable": expected, "selector": {"matchLabels": {"app": name}}},
        "status": {
            "disruptionsAllowed": allowed,
            "currentHealthy": expected,
            "desiredHealthy": expected,
            "expectedPods": expected,
        },
    }


def cluster_version(
    *,
    version: str = "4.14.8",
    image: str = CURRENT_IMAGE,
    state: str = "Completed",
    available: bool = True,
    progressing: bool = False,
    failing: bool = False,
    history: Optional[list[dict[str, Any]]] = None,
) -> dict[str, Any]:
    def condition(kind: str, value: bool) -> dict[str, str]:
        return {"type": kind, "status": "True" if value else "False"}

    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ClusterVersion",
        "metadata": {"name": "version"},
        "spec": {"clusterID": "00000000-0000-0000-0000-000000000000"},
        "status": {
            "desired": {"version": version, "image": image},
            "history": history
            if history is not None
            else [
                {
                    "state": state,
                    "version": version,
                    "image": image,
                    "completionTime": "2030-01-01T08:00:00Z",
                }
            ],
            "conditions": [
                condition("Available", available),
                condition("Progressing", progressing),
                condition("Failing", failing),
            ],
        },
    }


def idms(name: str, *sets: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ImageDigestMirrorSet",
        "metadata": {"name": name},
        "spec": {"imageDigestMirrors": [{"source": s, "mirrors": m} for s, m in sets]},
    }


def signature_configmap(digest: str = DIGEST) -> dict[str, Any]:
    hexdigest = digest.split(":", 1)[1]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "mirrored-release-signatures",
            "namespace": "openshift-config-managed",
            "labels": {"release.openshift.io/verification-signatures": ""},
        },
        "binaryData": {f"sha256-{hexdigest}-1": "c2lnbmF0dXJl"},
    }


def release_image(
    *,
    served_by: Optional[str] = f"{MIRROR}@{DIGEST}",
    kind: Optional[str] = "mirror",
    verdict: str = "pass",
    attempts: Optional[list[tuple[str, str, str, Optional[str]]]] = None,
    findings: Optional[list[tuple[str, str, str]]] = None,
    image: str = TARGET,
) -> dict[str, Any]:
    if attempts is None:
        attempts = [(served_by or "", kind or "mirror", "served", None)]
    return {
        "image": image,
        "reference": image,
        "verdict": verdict,
        "servedBy": served_by,
        "servedByKind": kind,
        "attempts": [
            {"location": loc, "kind": k, "outcome": outcome, "reason": reason, "message": None}
            for loc, k, outcome, reason in attempts
        ],
        "findings": [{"code": c, "severity": sev, "message": m} for c, sev, m in (findings or [])],
    }


EFFECTIVE = [
    {
        "prefix": PAYLOAD,
        "location": PAYLOAD,
        "insecure": False,
        "blocked": False,
        "mirrorByDigestOnly": False,
        "mirrors": [{"location": MIRROR, "insecure": False, "pullFromMirror": "digest-only"}],
    },
    {
        "prefix": RELEASE,
        "location": RELEASE,
        "insecure": False,
        "blocked": False,
        "mirrorByDigestOnly": False,
        "mirrors": [{"location": MIRROR, "insecure": False, "pullFromMirror": "digest-only"}],
    },
]


def report_document(
    name: str,
    *,
    checked_at: str = LATER,
    images: Optional[list[dict[str, Any]]] = None,
    verdict: Optional[str] = None,
    current: Optional[str] = "rendered-worker-1",
    effective: Optional[list[dict[str, Any]]] = EFFECTIVE,
    fingerprint: Optional[str] = None,
) -> dict[str, Any]:
    images = [release_image()] if images is None else images
    document: dict[str, Any] = {
        "schemaVersion": 1,
        "node": name,
        "checkedAt": checked_at,
        "registriesConf": {
            "files": ["/host/etc/containers/registries.conf"],
            "fingerprint": fingerprint
            or "sha256:" + hashlib.sha256(json.dumps(effective).encode()).hexdigest(),
            "effective": effective,
        },
        "verdict": verdict or ("pass" if all(i["verdict"] == "pass" for i in images) else "fail"),
        "images": images,
        "findings": [],
    }
    if current is not None:
        document["machineConfig"] = {
            "currentConfig": current,
            "desiredConfig": current,
            "state": "Done",
        }
    return document


def report_configmap(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"mirror-agent-report-{name}",
            "namespace": NS,
            "labels": {
                "app.kubernetes.io/name": "mirror-agent",
                "app.kubernetes.io/component": "report",
            },
            "annotations": {NODE_ANNOTATION: name},
        },
        "data": {REPORT_KEY: json.dumps(report_document(name, **fields))},
    }


def daemonset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "mirror-agent", "namespace": NS},
        "spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}]}}},
    }


def healthy_snapshot(**changes: Any) -> Snapshot:
    snapshot = Snapshot(
        server="https://api.example:6443",
        namespace=NS,
        cluster_version=cluster_version(),
        nodes=[node("master-0", role="master"), node("worker-0"), node("worker-1")],
        pools=[pool("master"), pool("worker")],
        health_checks=[health_check("workers", paused=True)],
        budgets=[budget("app", "web", allowed=1)],
        idmss=[idms("release", (RELEASE, [MIRROR]), (PAYLOAD, [MIRROR]))],
        signatures=[signature_configmap()],
        daemonset=daemonset(),
        reports=Reports.of(
            [
                report_configmap("master-0", current="rendered-master-1"),
                report_configmap("worker-0"),
                report_configmap("worker-1"),
            ]
        ),
    )
    for key, value in changes.items():
        setattr(snapshot, key, value)
    return snapshot


def target() -> Target:
    return parse_target(TARGET)


def rendered(snapshot: Snapshot, version: tuple[int, int] = (4, 14)) -> Any:
    return render_registries(
        snapshot.icsps if isinstance(snapshot.icsps, list) else [],
        snapshot.idmss if isinstance(snapshot.idmss, list) else [],
        snapshot.itmss if isinstance(snapshot.itmss, list) else [],
        version=version,
        flags_known=not isinstance(snapshot.image_config, Unavailable),
    )


def forbidden(verb: str, resource: str, namespace: Optional[str] = None) -> Unavailable:
    return Unavailable("forbidden", Permission(verb, resource, namespace))


# --- the target and the version ------------------------------------------------------------


def test_target_needs_a_digest_and_knows_the_payload_repository() -> None:
    found = target()
    assert (found.repository, found.digest, found.payload_repository) == (RELEASE, DIGEST, PAYLOAD)
    for bad in (f"{RELEASE}:4.15.0-x86_64", "ocp-release@" + DIGEST, "quay.io/X@" + DIGEST):
        with pytest.raises(UsageError):
            parse_target(bad)
    custom = parse_target(f"registry.example.com/ocp/release@{DIGEST}")
    assert (custom.payload_repository, custom.payload_from) == (None, "unknown")
    given = parse_target(
        f"registry.example.com/ocp/release@{DIGEST}", "registry.example.com/ocp/art"
    )
    assert given.payload_repository == "registry.example.com/ocp/art"


def test_a_mirror_reference_is_mapped_back_to_its_source() -> None:
    snapshot = healthy_snapshot()
    mapped = with_source(parse_target(f"{MIRROR}@{DIGEST}"), rendered(snapshot).config)
    assert (mapped.source_repository, mapped.payload_repository) == (RELEASE, PAYLOAD)
    # The nodes are asked to check the source: the mirror reference itself would be pulled
    # from the mirror directly, through no mirror rule.
    assert checklist_line(mapped, "T") == f"{TARGET}  # method=manifest requested=T"
    # A report's check of the mirror reference is not the release check; an old checklist
    # line naming it is still recognised as this release's (and replaced).
    mirror_check = report_configmap("worker-0", images=[release_image(image=f"{MIRROR}@{DIGEST}")])
    (report,) = Reports.of([mirror_check]).by_node.values()
    assert release_check(report, mapped) is None
    assert matches(mapped, f"{MIRROR}@{DIGEST}", None)
    assert not matches(mapped, f"{MIRROR}@{DIGEST}", None, as_given=False)


def test_the_version_that_renders_the_nodes_now() -> None:
    history = [
        {"state": "Partial", "version": "4.15.3", "image": "x"},
        {"state": "Completed", "version": "4.14.8", "image": "y"},
    ]
    cv = cluster_version(version="4.15.3", history=history)
    assert cluster_version_of(cv, None, post=False).version == (4, 14)  # before the update
    assert cluster_version_of(cv, None, post=True).version == (4, 15)
    assert cluster_version_of(cv, "4.12", post=False).source == "--ocp-version"
    assert cluster_version_of(forbidden("get", "x"), None, post=False).source == "unknown"
    with pytest.raises(ValueError):
        cluster_version_of(cv, "soon", post=False)


# --- item 1: the release through a mirror ---------------------------------------------------


def test_release_item_passes_when_every_node_was_served_by_a_mirror() -> None:
    item, releases = release_item(
        healthy_snapshot(), target(), since=SINCE, cutoff=None, suggested_mirror=MIRROR
    )
    assert (
        item.verdict == PASS and item.summary == "all 3 expected nodes resolved it through a mirror"
    )
    assert item.evidence[0].endswith(f"{MIRROR} (3)")
    assert [r.state for r in releases] == ["mirror"] * 3
    assert item.details["servedBy"] == {MIRROR: 3}


def test_release_item_failures_and_their_fixes() -> None:
    snapshot = healthy_snapshot(
        nodes=[
            node(n)
            for n in ("w-fallback", "w-missing", "w-old", "w-source", "w-unknown", "w-unauthorized")
        ],
        reports=Reports.of(
            [
                report_configmap(
                    "w-fallback",
                    images=[
                        release_image(
                            served_by=f"{BACKUP}@{DIGEST}",
                            verdict="warn",
                            attempts=[
                                (f"{MIRROR}@{DIGEST}", "mirror", "failed", "connection-refused"),
                                (f"{BACKUP}@{DIGEST}", "mirror", "served", None),
                            ],
                            findings=[("fallback-to-later-mirror", "warn", "served by mirror #2")],
                        )
                    ],
                ),
                report_configmap("w-old", checked_at=EARLIER),
                report_configmap(
                    "w-source",
                    images=[
                        release_image(
                            served_by=TARGET,
                            kind="source",
                            verdict="warn",
                            attempts=[(TARGET, "source", "served", None)],
                            findings=[("no-mirror-configured", "warn", "no mirrors")],
                        )
                    ],
                ),
                report_configmap(
                    "w-unknown",
                    images=[
                        release_image(
                            served_by=None,
                            kind=None,
                            verdict="fail",
                            attempts=[
                                (f"{MIRROR}@{DIGEST}", "mirror", "failed", "manifest-unknown"),
                                (TARGET, "source", "failed", "blocked"),
                            ],
                            findings=[("not-served", "fail", "no source served the image")],
                        )
                    ],
                ),
                report_configmap(
                    "w-unauthorized",
                    images=[
                        release_image(
                            served_by=None,
                            kind=None,
                            verdict="fail",
                            attempts=[
                                (f"{MIRROR}@{DIGEST}", "mirror", "failed", "unauthorized"),
                                (TARGET, "source", "failed", "dns"),
                            ],
                            findings=[("not-served", "fail", "no source served the image")],
                        )
                    ],
                ),
            ]
        ),
    )
    item, releases = release_item(
        snapshot, target(), since=SINCE, cutoff=None, suggested_mirror=MIRROR
    )
    states = {r.node: r.state for r in releases}
    assert states == {
        "w-fallback": "fallback",
        "w-missing": "missing",
        "w-old": "missing",
        "w-source": "source",
        "w-unknown": "failed",
        "w-unauthorized": "failed",
    }
    assert item.verdict == FAIL
    assert "5 of 6 expected nodes did not resolve the release through a mirror" in item.summary
    text = "\n".join(item.evidence)
    assert "w-missing: no report from this node" in text
    assert f"w-old: its latest check of the release ({EARLIER}) is older than this run" in text
    assert f"w-source: served by the source {TARGET}, not a mirror" in text
    assert "w-fallback: served by backup" in text
    assert item.remediation[:2] == (
        f"oc get pods -n {NS} -o wide --field-selector spec.nodeName=w-missing",
        f"oc get pods -n {NS} -o wide --field-selector spec.nodeName=w-old",
    )
    assert (
        f"oc adm release mirror -a <pull-secret.json> --from={TARGET} --to={MIRROR}"
        in item.remediation
    )
    assert any(
        r.startswith("oc set data secret/pull-secret -n openshift-config") for r in item.remediation
    )
    assert (
        f"oc debug node/w-source -- chroot /host skopeo --debug inspect --raw --authfile "
        f"/var/lib/kubelet/config.json docker://{TARGET}"
    ) in item.remediation


def test_release_item_skips_nodes_the_daemonset_does_not_run_on() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    windows = node("win-0", labels={"kubernetes.io/os": "windows"})
    linux = node("worker-0", labels={"kubernetes.io/os": "linux"})
    snapshot = healthy_snapshot(nodes=[windows, linux], daemonset=ds)
    item, releases = release_item(
        snapshot, target(), since=SINCE, cutoff=None, suggested_mirror=None
    )
    assert [r.node for r in releases] == ["worker-0"] and item.verdict == PASS


def test_release_item_without_mirror_agent_installed_or_readable() -> None:
    bare = healthy_snapshot(daemonset=None, reports=Reports())
    item, _ = release_item(bare, target(), since=SINCE, cutoff=None, suggested_mirror=None)
    assert item.verdict == FAIL and item.remediation[0].startswith("oc apply -k daemonset/")
    denied = healthy_snapshot(reports=forbidden("list", "configmaps", NS))
    item, _ = release_item(denied, target(), since=SINCE, cutoff=None, suggested_mirror=None)
    assert item.verdict == FAIL
    assert item.summary == "not checked: missing permission: list configmaps (in mirror-agent)"
    assert item.missing_permissions == (Permission("list", "configmaps", NS),)


def test_when_the_check_cannot_be_requested_recent_reports_still_count() -> None:
    cutoff = datetime(2030, 1, 1, 9, 30, tzinfo=timezone.utc)
    snapshot = healthy_snapshot()
    problem = forbidden("patch", "configmaps", NS)
    item, _ = release_item(
        snapshot,
        target(),
        since=None,
        cutoff=cutoff,
        suggested_mirror=MIRROR,
        write_problem=problem,
    )
    assert item.verdict == PASS  # the reports (10:02) are recent enough
    assert item.missing_permissions == (Permission("patch", "configmaps", NS),)
    stale = healthy_snapshot(
        reports=Reports.of(
            [report_configmap(n, checked_at=EARLIER) for n in ("master-0", "worker-0", "worker-1")]
        )
    )
    item, _ = release_item(
        stale, target(), since=None, cutoff=cutoff, suggested_mirror=MIRROR, write_problem=problem
    )
    assert item.verdict == FAIL
    assert item.remediation[0].startswith(f"oc edit configmap mirror-agent-checks -n {NS}")


def test_freshness_follows_the_request_or_the_machine_config() -> None:
    state = NodeState(
        "worker-0", True, "", False, True, "worker", "rendered-worker-2", None, "Done"
    )
    report = Reports.of([report_configmap("worker-0")]).by_node["worker-0"]
    assert is_fresh(report, state, target(), since=SINCE, cutoff=None)
    assert not is_fresh(report, state, target(), since="2030-01-01T10:05:00Z", cutoff=None)
    cutoff = datetime(2030, 1, 1, 9, 0, tzinfo=timezone.utc)
    # Checked under rendered-worker-1; the node has rolled out rendered-worker-2 since.
    assert not is_fresh(report, state, target(), since=None, cutoff=cutoff)
    other = parse_target(f"{RELEASE}@sha256:" + "99" * 32)
    assert not is_fresh(report, state, other, since=SINCE, cutoff=None)


# --- item 2: mirror rules ------------------------------------------------------------------


def version14() -> Any:
    return cluster_version_of(cluster_version(), None, post=False)


def test_mirror_rules_pass_when_covered_and_every_node_agrees() -> None:
    snapshot = healthy_snapshot()
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == PASS, item.evidence
    assert item.details["coverage"]["payload"]["mirrors"] == [MIRROR]
    assert "3 of 3 compared nodes agree with the mirror sets" in item.evidence


def test_an_uncovered_payload_repository_gets_a_mirror_set() -> None:
    snapshot = healthy_snapshot(idmss=[idms("release", (RELEASE, [MIRROR]))])
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert f"payload repository {PAYLOAD}: NOT covered" in "\n".join(item.evidence)
    assert item.remediation[0] == (
        "oc apply -f - <<'EOF'\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
        "metadata:\n  name: release-mirrors\nspec:\n  imageDigestMirrors:\n"
        f"  - source: {PAYLOAD}\n    mirrors:\n    - {MIRROR}\nEOF"
    )
    # 4.12 and older: an ImageContentSourcePolicy.
    old = mirror_rules_item(snapshot, target(), rendered(snapshot, (4, 12)), version14())
    assert "kind: ImageContentSourcePolicy" in old.remediation[0]


def test_a_node_that_disagrees_with_the_mirror_sets_is_named() -> None:
    drifted = json.loads(json.dumps(EFFECTIVE))
    drifted[1]["mirrors"].insert(
        0, {"location": BACKUP, "insecure": False, "pullFromMirror": "digest-only"}
    )
    snapshot = healthy_snapshot(
        reports=Reports.of(
            [
                report_configmap("master-0", current="rendered-master-1"),
                report_configmap("worker-0"),
                report_configmap("worker-1", effective=drifted),
            ]
        )
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert item.summary == "1 node(s) disagree with the mirror sets"
    line = next(e for e in item.evidence if e.startswith("1 node(s) worker-1"))
    assert f"{RELEASE}: mirrors: expected {MIRROR} (digest-only); the node has {BACKUP}" in line
    assert (
        "oc debug node/worker-1 -- chroot /host touch /run/machine-config-daemon-force"
        "   # the MCD rewrites the rendered registries.conf"
    ) in item.remediation
    nodes = {n["node"]: n for n in item.details["nodes"]}
    assert nodes["worker-1"]["differences"][0]["aspect"] == "mirrors"


def test_a_node_entry_that_shadows_a_mirrored_scope_fails_item_2() -> None:
    # A namespace-scope mirror set covers release and payload; worker-1 has an unmanaged
    # drop-in entry for the payload repository without mirrors, which takes its pulls.
    scope, scope_mirror = "quay.io/openshift-release-dev", "mirror.corp.example:8443/ocp"
    namespace_entry = {
        "prefix": scope,
        "location": scope,
        "insecure": False,
        "blocked": False,
        "mirrorByDigestOnly": False,
        "mirrors": [{"location": scope_mirror, "insecure": False, "pullFromMirror": "digest-only"}],
    }
    shadow = {**namespace_entry, "prefix": PAYLOAD, "location": PAYLOAD, "mirrors": []}
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (scope, [scope_mirror]))],
        reports=Reports.of(
            [
                report_configmap(
                    "master-0", current="rendered-master-1", effective=[namespace_entry]
                ),
                report_configmap("worker-0", effective=[namespace_entry]),
                report_configmap("worker-1", effective=[namespace_entry, shadow]),
            ]
        ),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL and item.summary == "1 node(s) disagree with the mirror sets"
    line = next(e for e in item.evidence if e.startswith("1 node(s) worker-1"))
    assert (
        f"{PAYLOAD}: an entry no mirror set renders, inside {scope}, takes its pulls (the "
        f"longest match wins): expected {scope_mirror}/ocp-v4.0-art-dev (digest-only); the node "
        "has no mirrors"
    ) in line
    assert (
        f"oc debug node/worker-1 -- chroot /host grep -rlF {PAYLOAD} "
        "/etc/containers/registries.conf /etc/containers/registries.conf.d   # the file whose "
        f"entry shadows {scope}: remove the entry (or the MachineConfig that writes it)"
    ) in item.remediation
    nodes = {n["node"]: n for n in item.details["nodes"]}
    assert nodes["worker-1"]["differences"][0]["aspect"] == "shadowing-entry"
    assert nodes["worker-0"]["verdict"] == PASS


def test_a_rollout_in_progress_is_waited_for() -> None:
    stale_rules = [EFFECTIVE[1]]  # the payload rule is not rendered on this node yet
    snapshot = healthy_snapshot(
        nodes=[node("worker-0"), node("worker-1", desired="rendered-worker-2")],
        reports=Reports.of(
            [report_configmap("worker-0"), report_configmap("worker-1", effective=stale_rules)]
        ),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert "(Machine Config rollout in progress on 1)" in "\n".join(item.evidence)
    assert item.remediation == ("oc wait mcp/worker --for=condition=Updated=True --timeout=60m",)


def test_mirror_rules_warnings_and_missing_permissions() -> None:
    omitted = healthy_snapshot(
        reports=Reports.of(
            [
                report_configmap("master-0", current="rendered-master-1"),
                report_configmap("worker-0"),
                report_configmap("worker-1", effective=None),
            ]
        ),
        image_config=forbidden("get", "images.config.openshift.io"),
    )
    item = mirror_rules_item(omitted, target(), rendered(omitted), version14())
    assert item.verdict == WARN
    assert "not compared (its report has no effective entries (an older agent)): worker-1" in (
        item.evidence
    )
    assert item.missing_permissions == (Permission("get", "images.config.openshift.io"),)
    custom = parse_target(f"registry.example.com/ocp/release@{DIGEST}")
    assert "payload repository of registry.example.com/ocp/release unknown" in "\n".join(
        mirror_rules_item(omitted, custom, rendered(omitted), version14()).evidence
    )
    denied = healthy_snapshot(idmss=forbidden("list", "imagedigestmirrorsets.config.openshift.io"))
    item = mirror_rules_item(denied, target(), None, version14())
    assert item.verdict == FAIL
    assert item.summary == (
        "not checked: missing permission: list imagedigestmirrorsets.config.openshift.io"
    )


# --- items 3 to 7 ---------------------------------------------------------------------------


def test_signature_item() -> None:
    assert signature_item(healthy_snapshot(), target()).verdict == PASS
    missing = signature_item(healthy_snapshot(signatures=[]), target())
    hexdigest = DIGEST.split(":")[1]
    assert missing.verdict == FAIL
    assert missing.remediation[1] == (
        "curl -sSfo signature-1 https://mirror.openshift.com/pub/openshift-v4/signatures/"
        f"openshift/release/sha256={hexdigest}/signature-1 && oc create configmap "
        f"sha256-{hexdigest} -n openshift-config-managed --from-file=sha256-{hexdigest}-1="
        f"signature-1 && oc label configmap sha256-{hexdigest} -n openshift-config-managed "
        "release.openshift.io/verification-signatures="
    )
    other = signature_item(
        healthy_snapshot(signatures=[signature_configmap("sha256:" + "1" * 64)]), target()
    )
    assert other.verdict == FAIL
    # the cluster-version operator reads binaryData only: a signature under data is unseen
    as_data = signature_configmap()
    as_data["data"] = as_data.pop("binaryData")
    ignored = signature_item(healthy_snapshot(signatures=[as_data]), target())
    assert ignored.verdict == FAIL
    assert any("under data, which the cluster ignores" in line for line in ignored.evidence)
    denied = signature_item(
        healthy_snapshot(signatures=forbidden("list", "configmaps", "openshift-config-managed")),
        target(),
    )
    assert denied.summary == (
        "not checked: missing permission: list configmaps (in openshift-config-managed)"
    )


def test_health_checks_paused_then_resumed() -> None:
    mixed = healthy_snapshot(
        health_checks=[health_check("a", paused=True), health_check("b", paused=False)]
    )
    item = health_checks_paused_item(mixed)
    assert item.verdict == FAIL and item.remediation == (
        'oc annotate machinehealthcheck b -n openshift-machine-api cluster.x-k8s.io/paused=""',
    )
    after = health_checks_resumed_item(mixed)
    assert after.verdict == FAIL and after.remediation == (
        "oc annotate machinehealthcheck a -n openshift-machine-api cluster.x-k8s.io/paused-",
    )
    assert health_checks_paused_item(healthy_snapshot(health_checks=[])).verdict == PASS
    resumed = healthy_snapshot(health_checks=[health_check("a", paused=False)])
    assert health_checks_resumed_item(resumed).verdict == PASS
    denied = healthy_snapshot(
        health_checks=forbidden(
            "list", "machinehealthchecks.machine.openshift.io", "openshift-machine-api"
        )
    )
    item = health_checks_paused_item(denied)
    assert item.verdict == FAIL and item.summary == (
        "not checked: missing permission: list machinehealthchecks.machine.openshift.io "
        "(in openshift-machine-api)"
    )


def test_pools_and_nodes() -> None:
    assert pools_and_nodes_item(healthy_snapshot(), post=False).verdict == PASS
    broken = healthy_snapshot(
        pools=[
            pool("master"),
            pool("worker", degraded=True),
            pool("infra", updated=False),
            pool("edge", paused=True),
        ],
        nodes=[node("worker-0", ready=False), node("worker-1", unschedulable=True)],
    )
    item = pools_and_nodes_item(broken, post=True)
    assert (item.number, item.verdict) == (2, FAIL)
    assert item.summary == (
        "pool edge paused; pool infra NOT updated; pool worker DEGRADED; node worker-0 not Ready "
        "(+1 more)"
    )
    assert item.remediation == (
        'oc patch mcp/edge --type=merge -p \'{"spec":{"paused":false}}\''
        "   # when the pool may update",
        "oc wait mcp/infra --for=condition=Updated=True --timeout=60m",
        "oc describe mcp/worker   # see the Degraded reason",
        "oc describe node/worker-0",
        "oc adm uncordon worker-1   # if no update is running",
    )
    denied = pools_and_nodes_item(
        healthy_snapshot(
            pools=forbidden("list", "machineconfigpools.machineconfiguration.openshift.io")
        ),
        post=False,
    )
    assert denied.verdict == FAIL and "3 of 3 nodes Ready" in denied.evidence
    assert (
        denied.missing_permissions[0].resource
        == "machineconfigpools.machineconfiguration.openshift.io"
    )


def test_drain_blockers() -> None:
    item = drain_blockers_item(
        healthy_snapshot(
            budgets=[
                budget("app", "web", allowed=0),
                budget("app", "ok", allowed=1),
                budget("app", "empty", allowed=0, expected=0),
            ]
        )
    )
    assert item.verdict == WARN
    assert item.evidence == (
        "app/web: minAvailable 2; 2 healthy of 2 expected; 0 disruptions allowed",
    )
    assert item.remediation[0].startswith("oc get pdb web -n app -o yaml")
    denied = drain_blockers_item(
        healthy_snapshot(budgets=forbidden("list", "poddisruptionbudgets.policy"))
    )
    assert denied.verdict == WARN and denied.missing_permissions


def test_upgrade_command_uses_the_mirror_that_served_the_release() -> None:
    snapshot = healthy_snapshot()
    _, releases = release_item(snapshot, target(), since=SINCE, cutoff=None, suggested_mirror=None)
    item = upgrade_command_item(releases, target(), None)
    assert item.verdict == PASS
    assert item.remediation == (
        f"oc adm upgrade --allow-explicit-upgrade --to-image {MIRROR}@{DIGEST}",
    )
    nothing = healthy_snapshot(reports=Reports())
    _, releases = release_item(nothing, target(), since=SINCE, cutoff=None, suggested_mirror=None)
    fallback = upgrade_command_item(
        releases, target(), coverage(rendered(nothing).config, RELEASE, DIGEST)
    )
    assert fallback.verdict == FAIL
    assert fallback.remediation == (
        f"oc adm upgrade --allow-explicit-upgrade --to-image {MIRROR}@{DIGEST}",
    )
    assert upgrade_command_item(releases, target(), None).remediation == ()


# --- post-upgrade --------------------------------------------------------------------------


def test_cluster_version_item() -> None:
    done = healthy_snapshot(cluster_version=cluster_version(version="4.15.3", image=TARGET))
    assert cluster_version_item(done, target()).verdict == PASS
    assert cluster_version_item(done, None).summary == "4.15.3 completed"
    progressing = healthy_snapshot(
        cluster_version=cluster_version(
            version="4.15.3", image=TARGET, state="Partial", progressing=True
        )
    )
    item = cluster_version_item(progressing, target())
    assert (
        item.verdict == FAIL and item.summary == "the latest update is Partial; still Progressing"
    )
    assert item.remediation[1] == (
        "oc wait clusterversion/version --for=condition=Progressing=False --timeout=90m"
    )
    failing = healthy_snapshot(cluster_version=cluster_version(image=TARGET, failing=True))
    assert "Failing" in cluster_version_item(failing, None).summary
    elsewhere = cluster_version_item(healthy_snapshot(), target())
    assert elsewhere.summary == f"the desired release is not {DIGEST}"
    # the update was requested but refused (unverified): status still shows the old
    # release, Completed and Available, so only spec and ReleaseAccepted tell
    refused = cluster_version()
    refused["spec"]["desiredUpdate"] = {"image": f"{MIRROR}@{DIGEST}", "force": False}
    refused["status"]["conditions"].append(
        {"type": "ReleaseAccepted", "status": "False", "message": "cannot be verified"}
    )
    item = cluster_version_item(healthy_snapshot(cluster_version=refused), None)
    assert item.verdict == FAIL
    assert "is not the desired release" in item.summary
    assert "ReleaseAccepted is False" in item.summary
    accepted = cluster_version(version="4.15.3", image=TARGET)
    accepted["spec"]["desiredUpdate"] = {"image": f"{MIRROR}@{DIGEST}"}  # same digest, mirror
    assert cluster_version_item(healthy_snapshot(cluster_version=accepted), None).verdict == PASS


def test_node_reports_item() -> None:
    assert node_reports_item(healthy_snapshot()).verdict == PASS
    snapshot = healthy_snapshot(
        nodes=[
            node("fresh"),
            node("stale", current="rendered-worker-2"),
            node("silent"),
            node("failing"),
            node("rolling", desired="rendered-worker-2"),
            node("source"),
        ],
        reports=Reports.of(
            [
                report_configmap("fresh"),
                report_configmap("stale"),
                report_configmap("rolling"),
                report_configmap(
                    "failing",
                    images=[
                        release_image(
                            served_by=None,
                            kind=None,
                            verdict="fail",
                            findings=[("not-served", "fail", "no source served the image")],
                        )
                    ],
                ),
                report_configmap(
                    "source",
                    images=[
                        release_image(
                            served_by=TARGET,
                            kind="source",
                            verdict="warn",
                            attempts=[
                                (f"{MIRROR}@{DIGEST}", "mirror", "failed", "timeout"),
                                (TARGET, "source", "served", None),
                            ],
                        )
                    ],
                ),
            ]
        ),
    )
    item = node_reports_item(snapshot)
    rows = {row["node"]: row for row in item.details["nodes"]}
    assert {n: r["verdict"] for n, r in rows.items()} == {
        "fresh": PASS,
        "stale": FAIL,
        "silent": FAIL,
        "failing": FAIL,
        "rolling": FAIL,
        "source": FAIL,
    }
    assert rows["stale"]["problems"] == [
        "checked under rendered-worker-1, before the rollout of rendered-worker-2"
    ]
    assert rows["source"]["problems"][-1] == f"contacted a source registry for {TARGET}"
    assert (
        f"oc delete pod -n {NS} -l app.kubernetes.io/name=mirror-agent --field-selector "
        "spec.nodeName=stale   # re-checks at start"
    ) in item.remediation
    assert (
        f"oc get configmap mirror-agent-report-failing -n {NS} -o jsonpath="
        "'{.data.report\\.json}'   # the node's full report"
    ) in item.remediation
    assert item.summary == "5 of 6 expected nodes need attention"


def test_a_blocked_source_attempt_is_not_a_contact() -> None:
    blocked = release_image(attempts=[(f"{MIRROR}@{DIGEST}", "mirror", "served", None)])
    refused = release_image(
        served_by=None,
        kind=None,
        verdict="fail",
        attempts=[
            (f"{MIRROR}@{DIGEST}", "mirror", "failed", "timeout"),
            (TARGET, "source", "failed", "blocked"),
        ],
    )
    reports = Reports.of(
        [report_configmap("a", images=[blocked]), report_configmap("b", images=[refused])]
    )
    assert not any(i.contacted_source for r in reports.by_node.values() for i in r.images)


def test_checks_cleanup_item() -> None:
    clean = healthy_snapshot(checks={"data": {"images.txt": f"{TARGET}\n"}})
    assert checks_cleanup_item(clean).verdict == PASS
    line = f"{TARGET}  # method=manifest requested={SINCE}"
    left = checks_cleanup_item(healthy_snapshot(checks={"data": {"checklist.txt": line + "\n"}}))
    assert left.verdict == WARN and left.evidence == (line,)
    assert left.remediation == (
        f"agent checklist cleanup -n {NS}",
        f"oc patch configmap mirror-agent-checks -n {NS} --type=json "
        '-p \'[{"op":"remove","path":"/data/checklist.txt"}]\'',
    )
    assert (
        checks_cleanup_item(healthy_snapshot(checks=forbidden("get", "configmaps", NS))).verdict
        == WARN
    )


def test_checks_cleanup_item_finds_the_release_line_added_by_hand() -> None:
    """When pre-upgrade could not write, it asked for the release in images.txt: after the
    update that line must go too (every node keeps re-checking it)."""
    updated = cluster_version(version="4.15.3", image=TARGET)
    by_hand = f"{TARGET}  # method=manifest"
    checks = {"data": {"images.txt": f"quay.io/team/app@{DIGEST}\n{by_hand}\n"}}
    item = checks_cleanup_item(healthy_snapshot(checks=checks, cluster_version=updated))
    assert item.verdict == WARN and item.evidence == (by_hand,)
    assert item.remediation == (
        f"oc edit configmap mirror-agent-checks -n {NS}   # remove from data.images.txt: {by_hand}",
    )
    plain = {"data": {"images.txt": f"{TARGET}\n"}}  # a pull check of the admin's own
    assert (
        checks_cleanup_item(healthy_snapshot(checks=plain, cluster_version=updated)).verdict == PASS
    )


def test_reports_keep_the_newest_per_node_and_effective_once_per_fingerprint() -> None:
    reports = Reports.of(
        [
            report_configmap("a", checked_at=LATER),
            report_configmap("a", checked_at=EARLIER),
            report_configmap("b"),
        ]
    )
    assert reports.by_node["a"].checked_at == LATER
    assert len(reports.effective) == 1
    broken = report_configmap("c")
    broken["data"][REPORT_KEY] = "{not json"
    assert Reports.of([broken]).by_node["c"].readable is False
