"""Objects as the API returns them, and a healthy cluster's snapshot, for the checklist's
tests: the unit tests of each item (tests/unit/checklist/items/) and the end-to-end tests
that seed the fake API server with them (tests/integration/test_checklist.py)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Optional

from agent.checklist.mirrors import Rendering, render_registries
from agent.checklist.model import Permission, Unavailable
from agent.checklist.snapshot import Reports, Snapshot
from agent.checklist.target import Target, parse_target
from agent.kube.contract import (
    CURRENT_CONFIG,
    DESIRED_CONFIG,
    MCD_STATE,
    NODE_ANNOTATION,
    REPORT_KEY,
)

RELEASE = "quay.io/openshift-release-dev/ocp-release"
PAYLOAD = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
MIRROR = "mirror.corp.example:8443/ocp4/openshift4"
BACKUP = "backup.corp.example/ocp4/openshift4"
DIGEST = "sha256:" + "5e" * 32
CURRENT_IMAGE = f"{RELEASE}@sha256:" + "c0" * 32
TARGET = f"{RELEASE}@{DIGEST}"
NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where the node reports live (NS + "-reports")
SINCE = "2030-01-01T10:00:00Z"
LATER = "2030-01-01T10:02:00Z"
EARLIER = "2030-01-01T09:00:00Z"


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


# kind: (apiVersion, the spec field that lists the sets)
_MIRROR_SET_KINDS = {
    "ImageContentSourcePolicy": ("operator.openshift.io/v1alpha1", "repositoryDigestMirrors"),
    "ImageDigestMirrorSet": ("config.openshift.io/v1", "imageDigestMirrors"),
    "ImageTagMirrorSet": ("config.openshift.io/v1", "imageTagMirrors"),
}


def mirror_set_object(
    kind: str, name: str, sets: tuple[tuple[str, list[str]], ...], policy: Optional[str] = None
) -> dict[str, Any]:
    """An ICSP, IDMS or ITMS object; ``policy`` is every set's mirrorSourcePolicy."""
    api_version, field = _MIRROR_SET_KINDS[kind]
    items: list[dict[str, Any]] = [{"source": s, "mirrors": m} for s, m in sets]
    if policy:
        for item in items:
            item["mirrorSourcePolicy"] = policy
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {field: items},
    }


def icsp(name: str, *sets: tuple[str, list[str]]) -> dict[str, Any]:
    return mirror_set_object("ImageContentSourcePolicy", name, sets)


def idms(name: str, *sets: tuple[str, list[str]], policy: Optional[str] = None) -> dict[str, Any]:
    return mirror_set_object("ImageDigestMirrorSet", name, sets, policy)


def itms(name: str, *sets: tuple[str, list[str]], policy: Optional[str] = None) -> dict[str, Any]:
    return mirror_set_object("ImageTagMirrorSet", name, sets, policy)


def signature_configmap(digest: str = DIGEST) -> dict[str, Any]:
    algorithm, hexdigest = digest.split(":", 1)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "mirrored-release-signatures",
            "namespace": "openshift-config-managed",
            "labels": {"release.openshift.io/verification-signatures": ""},
        },
        "binaryData": {f"{algorithm}-{hexdigest}-1": "c2lnbmF0dXJl"},
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
            "namespace": REPORTS_NS,
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


def rendered(snapshot: Snapshot, version: tuple[int, int] = (4, 14)) -> Rendering:
    return render_registries(
        snapshot.icsps if isinstance(snapshot.icsps, list) else [],
        snapshot.idmss if isinstance(snapshot.idmss, list) else [],
        snapshot.itmss if isinstance(snapshot.itmss, list) else [],
        version=version,
        image_config=snapshot.image_config if isinstance(snapshot.image_config, dict) else None,
        flags_known=not isinstance(snapshot.image_config, Unavailable),
    )


def image_config(
    *, insecure: Sequence[str] = (), blocked: Sequence[str] = (), allowed: Sequence[str] = ()
) -> dict[str, Any]:
    """``image.config.openshift.io/cluster`` with these registrySources."""
    sources: dict[str, list[str]] = {}
    for key, scopes in (
        ("insecureRegistries", insecure),
        ("blockedRegistries", blocked),
        ("allowedRegistries", allowed),
    ):
        if scopes:
            sources[key] = list(scopes)
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "Image",
        "metadata": {"name": "cluster"},
        "spec": {"registrySources": sources},
    }


def entry(
    prefix: str, mirrors: Sequence[str] = (), *, insecure: bool = False, blocked: bool = False
) -> dict[str, Any]:
    """An effective registries.conf entry as a report carries it (digest-only mirrors)."""
    return {
        "prefix": prefix,
        "location": prefix,
        "insecure": insecure,
        "blocked": blocked,
        "mirrorByDigestOnly": False,
        "mirrors": [
            {"location": m, "insecure": False, "pullFromMirror": "digest-only"} for m in mirrors
        ],
    }


def forbidden(verb: str, resource: str, namespace: Optional[str] = None) -> Unavailable:
    return Unavailable("forbidden", Permission(verb, resource, namespace))


NEW_MIRROR_SET = "NEW-MIRROR-SET"


def new_name_masked(command: str) -> str:
    """A proposed mirror set with its generated name (mirror-agent-<hash>) replaced by
    NEW_MIRROR_SET, so that expected commands can be written out."""
    return re.sub(
        r"name: mirror-agent-[0-9a-f]{8}(-[0-9]+)?\n", f"name: {NEW_MIRROR_SET}\n", command
    )
