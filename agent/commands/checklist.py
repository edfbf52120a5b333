"""``agent checklist``: the cluster it reads, through the kubeconfig (the items are in
:mod:`agent.checklist`)."""

from __future__ import annotations

from typing import Optional

from agent.checklist.fetch import KubeCluster
from agent.kube.client import KubeClient
from agent.kube.config import DEFAULT_NAMESPACE, from_kubeconfig


def connect(
    kubeconfig: Optional[str], context: Optional[str], namespace: Optional[str]
) -> KubeCluster:
    """The cluster of the kubeconfig's (or ``context``'s) login; mirror-agent in ``namespace``."""
    client = KubeClient(from_kubeconfig(kubeconfig, context))
    return KubeCluster(client, namespace or DEFAULT_NAMESPACE)
