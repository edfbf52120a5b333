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
from agent.kube.publish import report_configmap
from agent.output.metrics import exposition, registry_of, summary_families
from agent.report import AttemptRecord, CheckReport, ImageResult
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
