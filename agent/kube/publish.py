"""A node's report as a ConfigMap: its name, labels, owner, and the 1 MiB limit."""

from __future__ import annotations

from typing import Any, Optional

from agent.kube.client import ApiError, KubeClient, configmap_path, node_path
from agent.kube.contract import (
    CURRENT_CONFIG,
    DESIRED_CONFIG,
    MCD_STATE,
    NODE_ANNOTATION,
    REPORT_FIELD_MANAGER,
    REPORT_KEY,
    REPORT_LABELS,
    VERDICT_LABEL,
    configmap_name,
)
from agent.kube.fit import CONFIGMAP_LIMIT, ReportTooLarge, fit_report
from agent.report import CheckReport

_LABEL_VALUE_MAX = 63

__all__ = [
    "CONFIGMAP_LIMIT",
    "NodeReportPublisher",
    "ReportTooLarge",
    "fit_report",
    "label_value",
    "machine_config_state",
    "publish",
    "report_configmap",
]


def machine_config_state(node: dict[str, Any]) -> dict[str, Optional[str]]:
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return {
        "currentConfig": annotations.get(CURRENT_CONFIG),
        "desiredConfig": annotations.get(DESIRED_CONFIG),
        "state": annotations.get(MCD_STATE),
    }


def report_configmap(
    report: CheckReport, *, namespace: str, node: Optional[dict[str, Any]]
) -> dict[str, Any]:
    """The ConfigMap to apply: report.json plus the node's Machine Config state."""
    document = report.to_json()
    if node is not None:
        document["machineConfig"] = machine_config_state(node)
    metadata: dict[str, Any] = {
        "name": configmap_name(report.node),
        "namespace": namespace,
        "labels": {**REPORT_LABELS, VERDICT_LABEL: report.verdict},
        "annotations": {NODE_ANNOTATION: report.node},
    }
    uid = (node or {}).get("metadata", {}).get("uid")
    if uid:
        # No blockOwnerDeletion: OpenShift would then require finalizer rights on nodes.
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": report.node, "uid": uid}
        ]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {REPORT_KEY: fit_report(document, report)},
    }


def publish(client: KubeClient, configmap: dict[str, Any]) -> dict[str, Any]:
    metadata = configmap["metadata"]
    return client.apply(
        configmap_path(metadata["namespace"], metadata["name"]),
        configmap,
        field_manager=REPORT_FIELD_MANAGER,
    )


class NodeReportPublisher:
    """Publishes one node's reports with its Node's owner reference and Machine Config state.

    The Node is read at a report's first publish, and again at each retry of that
    publish while no read has succeeded for it (the client itself already retries 429,
    5xx and a rotated token). When a read fails, the Node read last is used again:
    server-side apply removes the fields a manager stops sending, so publishing without
    it would strip the owner reference (the report would outlive its node) and the
    Machine Config state (collect could no longer tell the report stale after a
    rollout). A report published without a fresh read of its Node is remembered
    (:attr:`incomplete`) and :meth:`complete`, called at each poll, publishes it again
    once the Node reads.
    """

    def __init__(self, client: KubeClient, *, namespace: str, node_name: str) -> None:
        self.client = client
        self.namespace = namespace
        self.node_name = node_name
        self.node: Optional[dict[str, Any]] = None
        self.incomplete: Optional[CheckReport] = None
        self._node_read_for: Optional[CheckReport] = None
        self._node_fresh = False

    def _read_node(self, report: CheckReport) -> None:
        self._node_read_for = report
        try:
            self.node = self.client.get(node_path(self.node_name))
            self._node_fresh = True
        except ApiError:  # a failed read keeps what the last one gave
            self._node_fresh = False

    def _send(self, report: CheckReport) -> None:
        publish(self.client, report_configmap(report, namespace=self.namespace, node=self.node))
        self.incomplete = None if self._node_fresh else report

    def __call__(self, report: CheckReport) -> None:
        if report is not self._node_read_for or not self._node_fresh:
            self._read_node(report)
        self._send(report)

    def complete(self) -> bool:
        """Publish the last report again if its Node could not be read then and can be
        now; True when it did (an API error while publishing is raised)."""
        report = self.incomplete
        if report is None:
            return False
        self._read_node(report)
        if not self._node_fresh:
            return False
        self._send(report)
        return True


def label_value(value: str) -> str:
    return value[:_LABEL_VALUE_MAX]
