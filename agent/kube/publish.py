"""A node's report as a ConfigMap: its name, labels, owner, and the 1 MiB limit."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from typing import Any, Optional

from agent.errors import AgentError
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
from agent.report import CheckReport, ImageResult

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data, as the API server counts them
_HEADROOM = 4096  # keys, JSON framing of the ConfigMap itself
_LABEL_VALUE_MAX = 63


class ReportTooLarge(AgentError):
    pass


def machine_config_state(node: dict[str, Any]) -> dict[str, Optional[str]]:
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return {
        "currentConfig": annotations.get(CURRENT_CONFIG),
        "desiredConfig": annotations.get(DESIRED_CONFIG),
        "state": annotations.get(MCD_STATE),
    }


def _without_logs(image: ImageResult, keep: int) -> ImageResult:
    if image.log is None or len(image.log) <= keep:
        return image
    trimmed = f"[trimmed to the last {keep} characters]\n" + image.log[-keep:] if keep else None
    return replace(image, log=trimmed)


def fit_report(document: dict[str, Any], report: CheckReport) -> str:
    """The report JSON under the ConfigMap limit: raw logs are trimmed first, then the
    effective registries entries are left out (``registriesConf.effectiveOmitted``); never
    verdicts."""
    text = json.dumps(document, separators=(",", ":"))
    keep = 64 * 1024
    smaller = report
    omit_effective = False
    while len(text.encode()) > CONFIGMAP_LIMIT - _HEADROOM:
        if keep < 0:
            conf = document.get("registriesConf") or {}
            if omit_effective or conf.get("effective") is None:
                raise ReportTooLarge(
                    f"the report is {len(text.encode())} bytes even without logs; the "
                    f"ConfigMap limit is {CONFIGMAP_LIMIT}",
                    hint="check fewer images per node",
                )
            omit_effective = True
        else:
            smaller = replace(report, images=tuple(_without_logs(i, keep) for i in report.images))
            keep = keep // 4 if keep > 256 else -1 if keep == 0 else 0
        document = {**document, **smaller.to_json()}
        if omit_effective:
            document["registriesConf"] = {
                **document["registriesConf"],
                "effective": None,
                "effectiveOmitted": True,
            }
        text = json.dumps(document, separators=(",", ":"))
    return text


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

    The Node is read once per report, at its first publish: a report retried after an
    API outage keeps the Machine Config state of when it was made, not of a rollout that
    happened meanwhile. When a read fails, the Node read last is used again: server-side
    apply removes the fields a manager stops sending, so publishing without it would strip
    the owner reference (the report would outlive its node) and the Machine Config state
    (collect could no longer tell the report stale after a rollout). Only a node never
    read at all is published without them, rather than not at all.
    """

    def __init__(self, client: KubeClient, *, namespace: str, node_name: str) -> None:
        self.client = client
        self.namespace = namespace
        self.node_name = node_name
        self.node: Optional[dict[str, Any]] = None
        self._node_read_for: Optional[CheckReport] = None

    def __call__(self, report: CheckReport) -> None:
        if report is not self._node_read_for:
            self._node_read_for = report
            with contextlib.suppress(ApiError):  # a failed read keeps what the last one gave
                self.node = self.client.get(node_path(self.node_name))
        publish(self.client, report_configmap(report, namespace=self.namespace, node=self.node))


def label_value(value: str) -> str:
    return value[:_LABEL_VALUE_MAX]
