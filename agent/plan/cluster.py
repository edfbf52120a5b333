"""What ``agent plan`` reads from the cluster: the mirror objects, image.config, the
ClusterVersion and, with ``--from-reports``, the images the nodes' reports checked.

Read-only, through :class:`agent.checklist.fetch.KubeCluster` (the checklist's reads, with
its kubeconfig handling). A mirror list the API refuses makes a plan impossible: that is
an error of the environment, not a partial plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from agent.checklist.fetch import CLUSTER_VERSION, ICSPS, IDMSS, IMAGE_CONFIG, ITMSS, KubeCluster
from agent.checklist.model import Unavailable
from agent.errors import EnvironmentFailure
from agent.kube.contract import no_report_found
from agent.plan.model import MirrorState
from agent.vocabulary import Json


class ClusterUnreadable(EnvironmentFailure):
    """The API did not give what a plan needs (a permission, an unreachable server)."""


@dataclass(frozen=True)
class ClusterState:
    mirrors: MirrorState
    cluster_version: Optional[Json]
    release_image: Optional[str]
    report_images: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    # image -> where a report holds it ("node N, ConfigMap NS/NAME"), for notes
    report_sources: Mapping[str, str] = field(default_factory=dict)


def _list(cluster: KubeCluster, path: str, resource: str) -> list[Json]:
    found = cluster.list(path, resource)
    if isinstance(found, Unavailable):
        raise ClusterUnreadable(
            f"cannot read {resource}: {found.text()}",
            hint=f"grant list on {resource} (agent plan needs the current mirror sets)",
        )
    return found


def read_cluster(cluster: KubeCluster, *, from_reports: bool) -> ClusterState:
    notes: list[str] = []
    icsps = _list(cluster, ICSPS, "imagecontentsourcepolicies.operator.openshift.io")
    idmss = _list(cluster, IDMSS, "imagedigestmirrorsets.config.openshift.io")
    itmss = _list(cluster, ITMSS, "imagetagmirrorsets.config.openshift.io")
    image_config = cluster.get(IMAGE_CONFIG, ("get", "images.config.openshift.io"))
    flags_known = not isinstance(image_config, Unavailable)
    if isinstance(image_config, Unavailable):
        notes.append(
            f"image.config.openshift.io/cluster: {image_config.text()}: insecure and blocked "
            "registries are not known"
        )
        image_config = None
    version = cluster.get(CLUSTER_VERSION, ("get", "clusterversions.config.openshift.io"))
    if isinstance(version, Unavailable):
        notes.append(f"ClusterVersion: {version.text()}")
        version = None
    desired: Any = ((version or {}).get("status") or {}).get("desired") or {}
    release = desired.get("image") if isinstance(desired.get("image"), str) else None
    images: list[str] = []
    sources: dict[str, str] = {}
    if from_reports:
        reports = cluster.fetch_reports(None)
        if isinstance(reports, Unavailable):
            raise ClusterUnreadable(f"cannot read the node reports: {reports.text()}")
        for node, report in sorted(reports.by_node.items()):
            where = f"node {node}, ConfigMap {cluster.reports_namespace}/{report.configmap}"
            if not report.readable:
                notes.append(f"the report of {where} is not readable JSON: its images skipped")
                continue
            for check in report.images:
                image = check.reference or check.image
                if image not in images:
                    images.append(image)
                    sources[image] = where
        if not reports.by_node:
            notes.append(no_report_found(cluster.reports_namespace, cluster.namespace))
    state = MirrorState(
        tuple(icsps), tuple(idmss), tuple(itmss), image_config, flags_known=flags_known
    )
    return ClusterState(state, version, release, tuple(images), tuple(notes), sources)
