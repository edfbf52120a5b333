"""The DaemonSet manifests: what matters for a privileged node agent, and least privilege."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import yaml

from agent.collect import parse_duration
from agent.kube.contract import reports_namespace

DAEMONSET_DIR = Path(__file__).resolve().parents[2] / "daemonset"
REPORTS_NS = reports_namespace("mirror-agent")  # what agent run, collect, checklist derive


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(DAEMONSET_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def one(kind: str, name: str, namespace: Optional[str] = None) -> dict[str, Any]:
    (doc,) = [
        d
        for d in documents()
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and namespace in (None, d["metadata"].get("namespace"))
    ]
    return doc


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DAEMONSET_DIR / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in DAEMONSET_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    # the namespace is set only where a manifest names none (the events RoleBinding names
    # "default"), so no plain `namespace:` field that would move it
    assert "namespace" not in kustomization
    assert kustomization["transformers"] == ["transformers/namespace.yaml"]
    transformer = yaml.safe_load((DAEMONSET_DIR / "transformers" / "namespace.yaml").read_text())
    assert transformer["kind"] == "NamespaceTransformer" and transformer["unsetOnly"] is True
    assert transformer["metadata"]["namespace"] == "mirror-agent"


def test_daemonset_is_privileged_on_every_node_with_the_host_mounted() -> None:
    daemonset = one("DaemonSet", "mirror-agent")
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["privileged"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["hostNetwork"] is True
    assert pod.get("hostPID", False) is False
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["serviceAccountName"] == "mirror-agent"
    host = next(v for v in pod["volumes"] if v["name"] == "host")
    assert host["hostPath"]["path"] == "/"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "host")
    assert mount["mountPath"] == "/host"
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert container["command"][:2] == ["agent", "run"]
    assert "--only-covered-images" in container["command"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    probe = container["livenessProbe"]["exec"]["command"]
    assert probe[:2] == ["agent", "health"]
    heartbeat = next(arg for arg in container["command"] if arg.startswith("--heartbeat-file="))
    assert heartbeat.split("=", 1)[1] in " ".join(probe)
    # a check touches the heartbeat at least once per pull: the probe must outwait one pull
    max_age = next(arg for arg in probe if arg.startswith("--max-age="))
    timeout = next((a for a in container["command"] if a.startswith("--timeout=")), "=300")
    pull_seconds = float(timeout.split("=", 1)[1]) + 5  # + podman's grace after SIGTERM
    assert parse_duration(max_age.split("=", 1)[1]).total_seconds() > pull_seconds
    assert container["livenessProbe"]["timeoutSeconds"] >= 5


def test_checks_configmap_is_mounted_where_the_agent_reads_it() -> None:
    pod = one("DaemonSet", "mirror-agent")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    checks = next(v for v in pod["volumes"] if v["name"] == "checks")
    assert checks["configMap"]["name"] == "mirror-agent-checks"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "checks")
    images_file = next(a for a in container["command"] if a.startswith("--images-file="))
    assert images_file.split("=", 1)[1].startswith(mount["mountPath"] + "/")
    assert "images.txt" in one("ConfigMap", "mirror-agent-checks")["data"]


def rules(kind: str, name: str, namespace: Optional[str] = None) -> list[tuple[str, str, str]]:
    return sorted(
        (group, resource, verb)
        for rule in one(kind, name, namespace)["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    )


def test_rbac_is_limited_to_what_the_agent_does() -> None:
    assert rules("Role", "mirror-agent-reports", REPORTS_NS) == [
        ("", "configmaps", verb) for verb in ("create", "patch")
    ]
    # in the reports namespace, bound there: no right on the checks ConfigMap's namespace
    reports_binding = one("RoleBinding", "mirror-agent-reports")
    assert reports_binding["metadata"]["namespace"] == REPORTS_NS
    assert reports_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mirror-agent-reports"
    }  # fmt: skip
    on_configmaps = [
        d["metadata"]["name"]
        for d in documents()
        if d["kind"] in ("Role", "ClusterRole")
        and any({"configmaps", "*"} & set(rule["resources"]) for rule in d["rules"])
    ]
    assert on_configmaps == ["mirror-agent-reports"]
    # the earlier release's Role of that name in mirror-agent, applied again empty so that
    # `oc apply` takes back its create and patch there; its binding is not shipped
    assert one("Role", "mirror-agent-reports", "mirror-agent")["rules"] == []
    assert rules("ClusterRole", "mirror-agent-node-reader") == [("", "nodes", "get")]
    # Node events: create, and patch to count a repeat; never read or delete
    assert rules("ClusterRole", "mirror-agent-node-events") == [
        ("", "events", "create"),
        ("", "events", "patch"),
    ]
    # bound in "default" only (where a Node's events live), never cluster-wide
    events_binding = one("RoleBinding", "mirror-agent-node-events")
    assert events_binding["metadata"]["namespace"] == "default"
    assert events_binding["roleRef"]["kind"] == "ClusterRole"
    assert not [d for d in documents() if d["kind"] == "ClusterRoleBinding"
                and d["roleRef"]["name"] == "mirror-agent-node-events"]  # fmt: skip
    scc = one("Role", "mirror-agent-privileged-scc")["rules"]
    assert scc == [
        {
            "apiGroups": ["security.openshift.io"],
            "resources": ["securitycontextconstraints"],
            "resourceNames": ["privileged"],
            "verbs": ["use"],
        }
    ]
    kinds = {d["kind"] for d in documents()}
    assert kinds <= {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "DaemonSet",
    }
    for binding in (d for d in documents() if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "mirror-agent", "namespace": "mirror-agent"}
        ]


def test_namespace_allows_privileged_pods() -> None:
    labels = one("Namespace", "mirror-agent")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


def test_kubectl_kustomize_renders() -> None:
    assert shutil.which("kubectl"), "kubectl must be installed (scripts/setup.sh does it)"
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DAEMONSET_DIR)], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    placed = [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs]
    placed.remove(("RoleBinding", "mirror-agent-node-events", "default"))
    # the reports' Role and RoleBinding stay in the reports namespace
    for kind in ("Role", "RoleBinding"):
        placed.remove((kind, "mirror-agent-reports", REPORTS_NS))
    # None: cluster-scoped kinds; the emptied Role of the earlier release stays in mirror-agent
    assert {namespace for _, _, namespace in placed} == {"mirror-agent", None}
    assert ("Role", "mirror-agent-reports", "mirror-agent") in placed
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    assert namespaces == {"mirror-agent", REPORTS_NS}
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    image = daemonset["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":0.1.0") and "/" in image
