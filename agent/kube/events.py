"""Kubernetes Events about a Node (core/v1), recorded as the kubelet records them.

An event about a cluster-scoped object lives in the ``default`` namespace, with
``involvedObject`` naming the Node (its ``uid`` is the node's name, as the kubelet sets
it, which is what ``kubectl describe node`` searches by). The same event again (same
node, reason and message) is not a new object: its ``count`` and ``lastTimestamp`` are
patched, as the kubelet's event correlator does. The name is derived from the node,
reason and message, so a restarted agent finds and counts the event it made before.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Optional
from urllib.parse import quote

from agent.kube.client import ApiError, Conflict, KubeClient
from agent.report import timestamp

#: core/v1 Events about cluster-scoped objects must be in "default" (legacyValidateEvent)
EVENTS_NAMESPACE = "default"
COMPONENT = "mirror-agent"


def events_path(namespace: str, name: Optional[str] = None) -> str:
    base = f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
    return f"{base}/{quote(name, safe='')}" if name else base


def event_name(node: str, reason: str, message: str) -> str:
    digest = hashlib.sha256(f"{node}\0{reason}\0{message}".encode()).hexdigest()[:16]
    return f"{node[:200]}.{digest}"


def node_event(
    node: str, *, reason: str, type_: str, message: str, now: str, name: str
) -> dict[str, Any]:
    """A first occurrence (``count`` 1) of a core/v1 Event about ``node``."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": EVENTS_NAMESPACE},
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node},
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": COMPONENT, "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": COMPONENT,
        "reportingInstance": node,
    }


class NodeEventRecorder:
    """Creates an event, or counts one more occurrence of the same event (PATCH).

    Only ``create`` and ``patch`` are needed (daemonset/rbac.yaml): the count of an event
    made before a restart is learnt from the answer to a PATCH of its ``lastTimestamp``.
    """

    def __init__(
        self, client: KubeClient, node: str, *, now: Callable[[], str] = timestamp
    ) -> None:
        self.client = client
        self.node = node
        self.now = now
        self._counts: dict[str, int] = {}  # event name -> its count, as last written

    def record(self, reason: str, type_: str, message: str) -> dict[str, Any]:
        name = event_name(self.node, reason, message)
        when = self.now()
        if name not in self._counts:
            event = node_event(
                self.node, reason=reason, type_=type_, message=message, now=when, name=name
            )
            try:
                created = self.client.request(
                    "POST",
                    events_path(EVENTS_NAMESPACE),
                    body=json.dumps(event).encode(),
                    content_type="application/json",
                )
            except Conflict:  # made before this agent started: one more occurrence
                self._counts[name] = int(
                    self._patch(name, {"lastTimestamp": when}).get("count") or 1
                )
            else:
                self._counts[name] = 1
                return created
        updated = self._patch(name, {"count": self._counts[name] + 1, "lastTimestamp": when})
        self._counts[name] = int(updated.get("count") or self._counts[name] + 1)
        return updated

    def _patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.client.request(
            "PATCH",
            events_path(EVENTS_NAMESPACE, name),
            body=json.dumps(patch).encode(),
            content_type="application/strategic-merge-patch+json",
        )


__all__ = ["EVENTS_NAMESPACE", "ApiError", "NodeEventRecorder", "event_name", "node_event"]
