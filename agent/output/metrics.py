"""The cluster summary as Prometheus metric families (pure: a summary in, families out).

Label cardinality is bounded by design: per node a handful of series (verdict and status as
state sets, report age, drift), per image only the registries that served it, per mirror
registry and per finding code one series each. Nothing is labelled by node *and* image
(500 nodes x 50 images would be 25,000 series); docs/alerts.md counts the series.

Image names, registries and finding codes come from the reports (data a node wrote), so
they are capped: finding codes are only the agent's own (anything else is ``other``), and
only the ``MAX_IMAGES`` images and ``MAX_REGISTRIES`` registries on the most nodes keep
their name; the rest are summed under ``other``.

``agent collect --serve-metrics`` (agent/commands/exporter.py) serves these families; this
module only builds them, so the golden test reads the exposition text without a socket.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Optional, TypeVar

from prometheus_client.core import GaugeMetricFamily, Metric

from agent.finding_codes import FINDING_CODES

if TYPE_CHECKING:  # annotations only
    from agent.collect import NodeRow, Summary

PREFIX = "mirror_agent"
VERDICTS = ("pass", "warn", "fail", "error")
NODE_STATUSES = ("reported", "missing", "stale", "orphaned", "unknown")
MAX_IMAGES = 100
MAX_REGISTRIES = 20
OTHER = "other"
COUNTS = (
    "expected", "reported", "pass", "warn", "fail", "error",
    "missing", "stale", "orphaned", "drift", "unknown",
)  # fmt: skip


def registry_of(location: Optional[str]) -> str:
    """The registry host (``host[:port]``) of a pull location; ``none`` when nothing served."""
    if not location:
        return "none"
    return location.split("/", 1)[0].split("@", 1)[0]


def _keep_most_common(nodes_per_name: Counter[str], limit: int) -> frozenset[str]:
    """The ``limit`` names on the most nodes (ties by name, so every scrape agrees)."""
    ranked = sorted(nodes_per_name.items(), key=lambda item: (-item[1], item[0]))
    return frozenset(name for name, _count in ranked[:limit])


def _capped(name: str, kept: frozenset[str]) -> str:
    return name if name in kept else OTHER


def summary_families(
    summary: Optional[Summary],
    *,
    now: datetime,
    last_success: Optional[datetime],
    last_error: Optional[str],
) -> Iterator[Metric]:
    """Every family for one scrape: the exporter's own state, then the summary's (when one
    was ever read). ``now`` dates the reports' ages at scrape time."""
    yield from _exporter_families(summary, now=now, last_success=last_success, failed=last_error)
    if summary is None:
        return
    rows = [row for row in summary.nodes]
    yield _counts(summary)
    yield _node_verdicts(rows)
    yield _node_statuses(rows)
    yield _report_ages(rows, now)
    yield _drift(rows)
    yield _image_served(rows)
    yield _mirror_failures(rows)
    yield _finding_nodes(rows)


def _exporter_families(
    summary: Optional[Summary],
    *,
    now: datetime,
    last_success: Optional[datetime],
    failed: Optional[str],
) -> Iterator[Metric]:
    success = GaugeMetricFamily(
        f"{PREFIX}_collect_success",
        "1 when the last read of the reports succeeded, 0 when it failed (the metrics below "
        "are then those of the last successful read).",
    )
    success.add_metric([], 0.0 if failed or summary is None else 1.0)
    yield success
    if last_success is not None:
        when = GaugeMetricFamily(
            f"{PREFIX}_collect_last_success_timestamp_seconds",
            "When the reports were last read successfully (Unix time).",
        )
        when.add_metric([], last_success.timestamp())
        yield when


def _counts(summary: Summary) -> Metric:
    family = GaugeMetricFamily(
        f"{PREFIX}_nodes",
        "Nodes by state, as agent collect counts them: expected, reported, per verdict, "
        "missing, stale, orphaned, drift, unknown (no report while the DaemonSet, which "
        "says which nodes should report, could not be read).",
        labels=["state"],
    )
    for state in COUNTS:
        family.add_metric([state], float(summary.counts.get(state, 0)))
    return family


def _node_verdicts(rows: list[NodeRow]) -> Metric:
    family = GaugeMetricFamily(
        f"{PREFIX}_node_verdict",
        "1 for the verdict of the node's latest report (pass, warn, fail, error), 0 for the "
        "others; all 0 when the node has no report.",
        labels=["node", "pool", "verdict"],
    )
    for row in rows:
        if row.status == "orphaned":
            continue  # its node is gone: not a node of the cluster
        for verdict in VERDICTS:
            family.add_metric([row.node, row.pool or "", verdict], float(row.verdict == verdict))
    return family


def _node_statuses(rows: list[NodeRow]) -> Metric:
    family = GaugeMetricFamily(
        f"{PREFIX}_node_status",
        "1 for the node's report status (reported, missing, stale, orphaned, unknown), 0 for "
        "the others.",
        labels=["node", "pool", "status"],
    )
    for row in rows:
        for status in NODE_STATUSES:
            family.add_metric([row.node, row.pool or "", status], float(row.status == status))
    return family


def _report_ages(rows: list[NodeRow], now: datetime) -> Metric:
    from agent.collect import parse_time

    family = GaugeMetricFamily(
        f"{PREFIX}_node_report_age_seconds",
        "Seconds since the node's latest report was checked (nodes with a report only).",
        labels=["node"],
    )
    for row in rows:
        checked = parse_time(row.checked_at)
        if checked is not None and row.status != "orphaned":
            family.add_metric([row.node], max(0.0, (now - checked).total_seconds()))
    return family


def _drift(rows: list[NodeRow]) -> Metric:
    family = GaugeMetricFamily(
        f"{PREFIX}_node_registries_conf_drift",
        "1 when the node's effective registries.conf differs from the majority of its pool.",
        labels=["node", "pool"],
    )
    for row in rows:
        if row.status in ("reported", "stale"):
            family.add_metric([row.node, row.pool or ""], float(row.drift))
    return family


def _counted(rows: list[NodeRow]) -> list[NodeRow]:
    """The fresh reports of the cluster's nodes: what the per-image figures count."""
    return [row for row in rows if row.status == "reported"]


def _image_served(rows: list[NodeRow]) -> Metric:
    exact: Counter[tuple[str, str, str]] = Counter()
    for row in _counted(rows):
        for image, location, kind, _verdict in row.served:
            exact[
                (image, registry_of(location), kind if kind in ("mirror", "source") else "none")
            ] += 1
    images: Counter[str] = Counter()
    registries: Counter[str] = Counter()
    for (image, registry, _kind), count in exact.items():
        images[image] += count
        registries[registry] += count
    kept_images = _keep_most_common(images, MAX_IMAGES)
    kept_registries = _keep_most_common(registries, MAX_REGISTRIES) | {"none"}
    served: Counter[tuple[str, str, str]] = Counter()
    for (image, registry, kind), count in exact.items():
        served[(_capped(image, kept_images), _capped(registry, kept_registries), kind)] += count
    return _node_counts(
        "image_served_nodes",
        "Nodes whose latest check of the image was served by this registry; kind is mirror, "
        "source, or none (nothing served it).",
        ["image", "registry", "kind"],
        served,
    )


def _mirror_failures(rows: list[NodeRow]) -> Metric:
    failing: Counter[str] = Counter()
    for row in _counted(rows):
        for registry in {registry_of(location) for location in row.failed_mirrors}:
            failing[registry] += 1
    kept = _keep_most_common(failing, MAX_REGISTRIES)
    if len(failing) > len(kept):  # nodes count once under "other", however many it hides
        others = Counter(
            row.node
            for row in _counted(rows)
            if {registry_of(location) for location in row.failed_mirrors} - kept
        )
        failing = Counter({registry: failing[registry] for registry in kept})
        failing[OTHER] = len(others)
    return _node_counts(
        "mirror_failed_nodes",
        "Nodes on which a pull attempt at this mirror registry failed (the pull then fell "
        "back to a later mirror or the source, or failed).",
        ["mirror"],
        {(registry,): count for registry, count in failing.items()},
    )


def _finding_nodes(rows: list[NodeRow]) -> Metric:
    nodes: Counter[str] = Counter()
    for row in _counted(rows):
        codes = {finding.split(":", 1)[0] for finding in row.findings}
        for code in {code if code in FINDING_CODES else OTHER for code in codes}:
            nodes[code] += 1
    return _node_counts(
        "finding_nodes",
        "Nodes whose latest report has a finding of this code (warn, fail or error; "
        "docs/findings.md lists the codes; any other code counts as other).",
        ["code"],
        {(code,): count for code, count in nodes.items()},
    )


_Labels = TypeVar("_Labels", bound=tuple[str, ...])  # one sample's label values


def _node_counts(
    name: str, documentation: str, labels: list[str], counts: Mapping[_Labels, int]
) -> Metric:
    """A gauge of node counts, one sample per label values, in sorted order."""
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)
    for values, count in sorted(counts.items()):
        family.add_metric(list(values), float(count))
    return family


def exposition(families: Iterator[Metric]) -> str:
    """The Prometheus text format of ``families`` (what /metrics serves)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import generate_latest

    fixed = list(families)

    class _Fixed:
        def collect(self) -> Iterator[Metric]:
            return iter(fixed)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()
