"""The exporter's metrics: a golden exposition of a small cluster that has every case, and
the series count for 500 nodes x 50 images that docs/alerts.md states.

Regenerate the golden file after a deliberate change with ``UPDATE_GOLDEN=1 pytest <this
file>`` and read the diff before committing it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from agent.collect import summarise
from agent.finding_codes import FINDING_CODES
from agent.kube.publish import report_configmap
from agent.output.metrics import (
    MAX_IMAGES,
    MAX_REGISTRIES,
    exposition,
    registry_of,
    summary_families,
)
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult
from tests.support import monitoring as cluster

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    return path.read_text()


def small_cluster_text() -> str:
    summary = summarise(
        cluster.report_configmaps(), cluster.node_objects(), daemonset=None, now=NOW, max_age=None
    )
    return exposition(summary_families(summary, now=NOW, last_success=NOW, last_error=None))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_the_small_cluster_golden() -> None:
    text = small_cluster_text()
    assert text == golden("metrics-small-cluster.txt", text)


def test_every_case_has_its_series() -> None:
    found = samples(small_cluster_text())
    assert value(found, "mirror_agent_collect_success") == 1
    assert (
        value(
            found, "mirror_agent_node_verdict", node=cluster.FAILING, pool="worker", verdict="fail"
        )
        == 1
    )
    assert (
        value(
            found, "mirror_agent_node_verdict", node=cluster.FAILING, pool="worker", verdict="pass"
        )
        == 0
    )
    assert (
        value(
            found, "mirror_agent_node_status", node=cluster.SILENT, pool="worker", status="missing"
        )
        == 1
    )
    assert (
        value(found, "mirror_agent_node_status", node=cluster.STALE, pool="worker", status="stale")
        == 1
    )
    assert (
        value(found, "mirror_agent_node_status", node=cluster.GONE, pool="", status="orphaned") == 1
    )
    assert (
        value(found, "mirror_agent_node_registries_conf_drift", node=cluster.DRIFTED, pool="worker")
        == 1
    )
    assert (
        value(found, "mirror_agent_node_registries_conf_drift", node="worker-a", pool="worker") == 0
    )
    assert value(found, "mirror_agent_node_report_age_seconds", node="worker-a") == 3600
    # per image and registry: the fresh reports only (the stale and orphaned ones say nothing now)
    release = {"image": cluster.RELEASE}
    assert (
        value(
            found,
            "mirror_agent_image_served_nodes",
            **release,
            registry="mirror.corp.example:8443",
            kind="mirror",
        )
        == 3
    )
    assert (
        value(
            found,
            "mirror_agent_image_served_nodes",
            **release,
            registry="backup.corp.example",
            kind="mirror",
        )
        == 1
    )
    assert (
        value(
            found, "mirror_agent_image_served_nodes", **release, registry="quay.io", kind="source"
        )
        == 1
    )
    assert (
        value(found, "mirror_agent_image_served_nodes", **release, registry="none", kind="none")
        == 1
    )
    assert value(found, "mirror_agent_mirror_failed_nodes", mirror="mirror.corp.example:8443") == 3
    assert value(found, "mirror_agent_mirror_failed_nodes", mirror="backup.corp.example") == 2
    assert value(found, "mirror_agent_finding_nodes", code="served-by-source") == 1
    assert ("mirror_agent_finding_nodes", (("code", "served-by-mirror"),)) not in found  # info
    assert value(found, "mirror_agent_nodes", state="expected") == 8
    assert value(found, "mirror_agent_nodes", state="missing") == 1


def test_a_failed_read_keeps_the_last_summary_and_says_so() -> None:
    summary = summarise(
        cluster.report_configmaps(), cluster.node_objects(), daemonset=None, now=NOW, max_age=None
    )
    later = NOW + timedelta(minutes=5)
    text = exposition(summary_families(summary, now=later, last_success=NOW, last_error="503"))
    found = samples(text)
    assert value(found, "mirror_agent_collect_success") == 0
    assert value(found, "mirror_agent_collect_last_success_timestamp_seconds") == NOW.timestamp()
    assert value(found, "mirror_agent_node_report_age_seconds", node="worker-a") == 3900
    never = samples(exposition(summary_families(None, now=NOW, last_success=None, last_error="x")))
    assert set(never) == {("mirror_agent_collect_success", ())}


def test_registry_of_a_location() -> None:
    assert (
        registry_of("mirror.corp.example:8443/ocp4/release@sha256:ab") == "mirror.corp.example:8443"
    )
    assert registry_of("quay.io/a/b:tag") == "quay.io"
    assert registry_of(None) == "none"


def test_series_for_500_nodes_and_50_images_stay_bounded() -> None:
    """docs/alerts.md: 5,665 series for 500 nodes x 50 images, each image served by its
    first mirror, a second mirror or the source, 2 mirror registries failing somewhere."""
    images = [f"quay.io/team/image-{n}@sha256:{n:064x}" for n in range(50)]
    reports = []
    for number in range(500):
        name = f"worker-{number:03d}"
        results = []
        for index, image in enumerate(images):
            path = image.split("/", 1)[1]
            served, kind, attempts = f"mirror-a.example/{path}", "mirror", ()
            if (number + index) % 10 == 1:  # mirror-a failed, mirror-b served
                served = f"mirror-b.example/{path}"
                attempts = (AttemptRecord(f"mirror-a.example/{path}", "failed", "mirror", "tls"),)
            elif (number + index) % 10 == 2:  # both failed, the source served
                served, kind = image, "source"
                attempts = (
                    AttemptRecord(f"mirror-a.example/{path}", "failed", "mirror", "tls"),
                    AttemptRecord(f"mirror-b.example/{path}", "failed", "mirror", "dns"),
                )
            results.append(ImageResult(image=image, verdict="pass", served_by=served,
                                       served_by_kind=kind, attempts=attempts))  # fmt: skip
        report = CheckReport(node=name, checked_at="2030-01-01T11:00:00Z", verdict="pass",
                             images=tuple(results), fingerprint="sha256:same")  # fmt: skip
        reports.append(report_configmap(report, namespace="mirror-agent", node=None))
    nodes = [cluster.node_object(f"worker-{n:03d}") for n in range(500)]
    summary = summarise(reports, nodes, daemonset=None, now=NOW, max_age=None)
    found = samples(
        exposition(summary_families(summary, now=NOW, last_success=NOW, last_error=None))
    )
    per_name: dict[str, int] = {}
    for name, _labels in found:
        per_name[name] = per_name.get(name, 0) + 1
    assert per_name["mirror_agent_node_verdict"] == 500 * 4
    assert per_name["mirror_agent_node_status"] == 500 * 5
    assert per_name["mirror_agent_node_report_age_seconds"] == 500
    assert per_name["mirror_agent_node_registries_conf_drift"] == 500
    assert per_name["mirror_agent_image_served_nodes"] == 50 * 3
    assert per_name["mirror_agent_mirror_failed_nodes"] == 2
    assert per_name["mirror_agent_nodes"] == 11
    assert len(found) == 5665  # + 1 per finding code present (no findings here)


def forged_report_text(images: int, codes: int) -> str:
    """One node's report naming ``images`` images, each served by its own registry and with
    its own invented finding code, plus ``codes`` more invented node findings."""
    results = tuple(
        ImageResult(image=f"x.io/i{n}:1", verdict="warn", served_by=f"m{n}.io/i",
                    served_by_kind="mirror", findings=(Finding(f"code-{n}", "warn", "m"),),
                    attempts=(AttemptRecord(f"f{n}.io/i", "failed", "mirror", "tls"),))
        for n in range(images)
    )  # fmt: skip
    report = CheckReport(
        node=cluster.FALLBACK, checked_at="2030-01-01T11:00:00Z", verdict="warn",
        images=results, fingerprint="sha256:same",
        findings=(*(Finding(f"forged-{n}", "warn", "m") for n in range(codes)),
                  Finding("served-by-source", "warn", "m")),
    )  # fmt: skip
    summary = summarise(
        [report_configmap(report, namespace="mirror-agent", node=None)],
        [cluster.node_object(cluster.FALLBACK)],
        daemonset=None,
        now=NOW,
        max_age=None,
    )
    return exposition(summary_families(summary, now=NOW, last_success=NOW, last_error=None))


def test_a_forged_report_cannot_multiply_the_series() -> None:
    """Image names, registries and finding codes are a node's data: capped, the rest summed
    under "other" (docs/alerts.md states the bound)."""
    found = samples(forged_report_text(images=400, codes=300))
    per_name: dict[str, int] = {}
    for name, _labels in found:
        per_name[name] = per_name.get(name, 0) + 1
    codes = {dict(labels)["code"] for name, labels in found if name.endswith("finding_nodes")}
    assert codes == {"other", "served-by-source"}
    assert value(found, "mirror_agent_finding_nodes", code="other") == 1
    served = {
        dict(labels)["image"]: dict(labels)["registry"]
        for name, labels in found
        if name == "mirror_agent_image_served_nodes"
    }
    assert len(served) == MAX_IMAGES + 1
    assert set(served.values()) <= {f"m{n}.io" for n in range(400)} | {"other"}
    assert len(set(served.values())) <= MAX_REGISTRIES + 1
    # nothing is lost: the node still counts once per image, named or summed under "other"
    total = sum(v for (name, _l), v in found.items() if name == "mirror_agent_image_served_nodes")
    assert total == 400
    mirrors = {dict(labels)["mirror"] for name, labels in found if "mirror_failed" in name}
    assert len(mirrors) == MAX_REGISTRIES + 1 and "other" in mirrors
    assert value(found, "mirror_agent_mirror_failed_nodes", mirror="other") == 1
    assert len(found) < 200


def test_only_the_agents_own_finding_codes_are_labels() -> None:
    """FINDING_CODES is the table of docs/findings.md, code for code."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "findings.md").read_text()
    table = text.split("## Finding codes", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented == FINDING_CODES
