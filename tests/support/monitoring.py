"""A small cluster whose reports cover every metric and alert of the exporter, and the
real monitoring tools (promtool, prometheus) the monitoring tests run.

Nine nodes: two pass through the first mirror, one falls back past a failing mirror, one is
served by the source after both mirrors failed, one fails (nothing served the release), one
reports nothing, one's report is stale (checked before its Machine Config rollout), one
has a registries.conf that differs from its pool, and a report whose node is gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import yaml

from agent.kube.publish import report_configmap
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult
from tests.support.data import PROJECT_ROOT

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where the reports live (NS + -reports)
CHECKED = "2030-01-01T11:00:00Z"
DIGEST = "sha256:" + "5e" * 32
APP_DIGEST = "sha256:" + "a1" * 32
RELEASE = f"quay.io/openshift-release-dev/ocp-release@{DIGEST}"
APP = f"registry.example.com/team/app@{APP_DIGEST}"
MIRROR = "mirror.corp.example:8443/ocp4/openshift4"
BACKUP = "backup.corp.example/ocp4/openshift4"
APP_MIRROR = "mirror.corp.example:8443/team/app"
FINGERPRINT = "sha256:" + "f1" * 32
OTHER_FINGERPRINT = "sha256:" + "f2" * 32

PASSING = ("master-0", "worker-a")
FALLBACK = "worker-b"
BY_SOURCE = "worker-c"
FAILING = "worker-d"
SILENT = "worker-e"
STALE = "worker-f"
DRIFTED = "worker-g"
GONE = "worker-gone"
NODES = (*PASSING, FALLBACK, BY_SOURCE, FAILING, SILENT, STALE, DRIFTED)

MONITORING_DIR = PROJECT_ROOT / "daemonset" / "monitoring"
RULE_TESTS = PROJECT_ROOT / "tests" / "data" / "monitoring" / "alerts_test.yaml"
EXPORTER_POD_TESTS = PROJECT_ROOT / "tests" / "data" / "monitoring" / "exporter_pods_test.yaml"


def rendered(name: str, generation: str = "7f3a") -> str:
    return f"rendered-{'master' if name.startswith('master') else 'worker'}-{generation}"


def node_object(name: str) -> dict[str, Any]:
    pool = "master" if name.startswith("master") else "worker"
    config = rendered(name)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {f"node-role.kubernetes.io/{pool}": ""},
            "annotations": {
                "machineconfiguration.openshift.io/currentConfig": config,
                "machineconfiguration.openshift.io/desiredConfig": config,
            },
        },
        "spec": {},
    }


def _release(name: str) -> ImageResult:
    at = f"@{DIGEST}"
    if name == FALLBACK:
        return ImageResult(
            image=RELEASE, verdict="warn", served_by=BACKUP + at, served_by_kind="mirror",
            attempts=(
                AttemptRecord(MIRROR + at, "failed", "mirror", "tls"),
                AttemptRecord(BACKUP + at, "served", "mirror"),
            ),
            findings=(Finding("fallback-to-later-mirror", "warn", f"{MIRROR}{at} (tls)"),),
        )  # fmt: skip
    if name == BY_SOURCE:
        return ImageResult(
            image=RELEASE, verdict="warn", served_by=RELEASE, served_by_kind="source",
            attempts=(
                AttemptRecord(MIRROR + at, "failed", "mirror", "connection-refused"),
                AttemptRecord(BACKUP + at, "failed", "mirror", "connection-refused"),
                AttemptRecord(RELEASE, "served", "source"),
            ),
            findings=(Finding("served-by-source", "warn", "every mirror failed"),),
        )  # fmt: skip
    if name == FAILING:
        return ImageResult(
            image=RELEASE, verdict="fail",
            attempts=(
                AttemptRecord(MIRROR + at, "failed", "mirror", "manifest-unknown"),
                AttemptRecord(BACKUP + at, "failed", "mirror", "manifest-unknown"),
            ),
            findings=(Finding("not-served", "fail", "no source served the image"),),
        )  # fmt: skip
    return ImageResult(
        image=RELEASE, verdict="pass", served_by=MIRROR + at, served_by_kind="mirror",
        attempts=(AttemptRecord(MIRROR + at, "served", "mirror"),),
        findings=(Finding("served-by-mirror", "info", "served by the first mirror"),),
    )  # fmt: skip


def _app() -> ImageResult:
    location = f"{APP_MIRROR}@{APP_DIGEST}"
    return ImageResult(image=APP, verdict="pass", served_by=location, served_by_kind="mirror")


def check_report(name: str, checked_at: str = CHECKED) -> Optional[CheckReport]:
    """The node's latest report (None: the node reports nothing)."""
    if name == SILENT:
        return None
    images = (_release(name), _app())
    verdicts = [image.verdict for image in images]
    verdict = next((v for v in ("fail", "warn") if v in verdicts), "pass")
    config = rendered(name, "0ld" if name == STALE else "7f3a")
    return CheckReport(
        node=name,
        checked_at=checked_at,
        verdict=verdict,
        images=images,
        fingerprint=OTHER_FINGERPRINT if name == DRIFTED else FINGERPRINT,
        extra={"machineConfig": {"currentConfig": config}},
    )


def report_configmaps(checked_at: str = CHECKED) -> list[dict[str, Any]]:
    """Every report ConfigMap of the cluster, the orphaned one included."""
    reports = [check_report(name, checked_at) for name in (*NODES, GONE)]
    return [
        report_configmap(report, namespace=REPORTS_NS, node=None) for report in reports if report
    ]


def daemonset() -> dict[str, Any]:
    """The agent's DaemonSet, on every node: without it the nodes that did not report are
    "unknown" rather than missing."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "mirror-agent", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "mirror-agent"}},
            "template": {
                "metadata": {"labels": {"app": "mirror-agent"}},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "agent", "image": "mirror-agent"}],
                },
            },
        },
    }


def node_objects() -> list[dict[str, Any]]:
    return [node_object(name) for name in NODES]


# --- the monitoring component and its tools ------------------------------------------------


def prometheus_rule() -> dict[str, Any]:
    document = yaml.safe_load((MONITORING_DIR / "prometheusrule.yaml").read_text())
    assert document["kind"] == "PrometheusRule"
    return document  # type: ignore[no-any-return]


def write_rule_groups(path: Path) -> Path:
    """The PrometheusRule's groups as a rule file promtool and prometheus read."""
    path.write_text(yaml.safe_dump(prometheus_rule()["spec"], sort_keys=False))
    return path


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: scripts/setup.sh installs the Debian package prometheus"
    return found


def build_with_monitoring(directory: Path) -> list[dict[str, Any]]:
    """daemonset/ with the monitoring component, built by the real ``kubectl kustomize`` as
    an overlay of one's own (in ``directory``/overlay) builds it: its documents."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: scripts/setup.sh installs it"
    overlay = directory / "overlay"
    overlay.mkdir()
    daemonset = PROJECT_ROOT / "daemonset"
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only
                "resources": [os.path.relpath(daemonset, overlay)],
                "components": [os.path.relpath(daemonset / "monitoring", overlay)],
            }
        )
    )
    built = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]
