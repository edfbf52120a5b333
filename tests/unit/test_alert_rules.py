"""The PrometheusRule's alerts under promtool (Debian's prometheus package), and the
monitoring component's manifests: unprivileged, read-only, opt-in."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.data import PROJECT_ROOT
from tests.support.monitoring import (
    EXPORTER_POD_TESTS,
    MONITORING_DIR,
    RULE_TESTS,
    build_with_monitoring,
    prometheus_rule,
    tool,
    write_rule_groups,
)


def rules() -> list[dict[str, Any]]:
    (group,) = prometheus_rule()["spec"]["groups"]
    return list(group["rules"])


def test_promtool_checks_the_rule_groups(tmp_path: Path) -> None:
    path = write_rule_groups(tmp_path / "rules.yaml")
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


def test_promtool_unit_tests_of_every_alert(tmp_path: Path) -> None:
    write_rule_groups(tmp_path / "rules.yaml")
    shutil.copy(RULE_TESTS, tmp_path / "alerts_test.yaml")
    ran = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout


def test_alerts_across_exporter_pods_fire_once_and_keep_their_for(tmp_path: Path) -> None:
    """A rollout scrapes two exporter pods at once; a replaced pod's series end and the new
    pod's begin: each alert fires once, with the cluster's figure, at its `for`."""
    write_rule_groups(tmp_path / "rules.yaml")
    shutil.copy(EXPORTER_POD_TESTS, tmp_path / "pods_test.yaml")
    ran = subprocess.run(
        [tool("promtool"), "test", "rules", "pods_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    cases = yaml.safe_load(EXPORTER_POD_TESTS.read_text())["tests"]
    for case in cases:
        tested = {check["alertname"] for check in case["alert_rule_test"]}
        assert tested == {rule["alert"] for rule in rules()}, case["name"]


def test_every_alert_is_tested_firing_and_not_firing_before_its_for() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for rule in rules():
        name = rule["alert"]
        mine = [check for check in checks if check["alertname"] == name]
        assert any(check["exp_alerts"] for check in mine), f"{name} is never seen firing"
        quiet = [check for check in mine if not check["exp_alerts"]]
        assert quiet, f"{name} is never seen not firing"
        first_fire = min(_minutes(c["eval_time"]) for c in mine if c["exp_alerts"])
        waited = _minutes(rule["for"])
        # the quiet check just before the first firing one proves the `for` is honoured
        assert any(first_fire - waited <= _minutes(c["eval_time"]) < first_fire for c in quiet), (
            name
        )


def _minutes(text: str) -> int:
    assert text.endswith("m"), text
    return int(text[:-1])


def test_every_alert_says_what_to_run_next() -> None:
    for rule in rules():
        description = rule["annotations"]["description"]
        assert "Next: `oc " in description, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_the_alerts_table_lists_every_alert() -> None:
    text = (PROJECT_ROOT / "docs" / "alerts.md").read_text()
    for rule in rules():
        assert f"| `{rule['alert']}` |" in text, rule["alert"]


# --- the component ------------------------------------------------------------------------


def component_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((MONITORING_DIR / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MONITORING_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    found = []
    for name in sorted(listed):
        found += [d for d in yaml.safe_load_all((MONITORING_DIR / name).read_text()) if d]
    return found


def test_the_exporter_is_unprivileged_and_serves_what_the_service_monitor_scrapes() -> None:
    docs = component_documents()
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("volumes")
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "privileged" not in security
    assert container["command"][:2] == ["agent", "collect"]
    address = next(a for a in container["command"] if a.startswith("--serve-metrics="))
    port = int(address.rsplit(":", 1)[1])
    assert container["ports"] == [{"name": "metrics", "containerPort": port}]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == labels
    assert monitor["spec"]["selector"]["matchLabels"] == service["metadata"]["labels"]
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert pod["serviceAccountName"] == "mirror-agent-exporter"


def test_the_exporter_only_reads() -> None:
    for doc in component_documents():
        if doc["kind"] in ("Role", "ClusterRole"):
            for rule in doc["rules"]:
                assert set(rule["verbs"]) <= {"get", "list"}, (doc["metadata"]["name"], rule)


def test_the_component_builds_into_an_overlay_with_kubectl(tmp_path: Path) -> None:
    docs = build_with_monitoring(tmp_path)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("DaemonSet", "mirror-agent") in kinds
    assert ("Deployment", "mirror-agent-exporter") in kinds
    assert ("PrometheusRule", "mirror-agent") in kinds
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (daemonset_doc,) = [d for d in docs if d["kind"] == "DaemonSet"]
    # the exporter runs the very image the DaemonSet runs
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == daemonset_doc["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("quay.io/example/mirror-agent:")
