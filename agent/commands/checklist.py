"""``agent checklist``: the cluster it reads, through the kubeconfig (the items are in
:mod:`agent.checklist`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from agent.checklist.fetch import KubeCluster
from agent.kube.config import DEFAULT_NAMESPACE
from agent.kube.contract import reports_namespace
from agent.kube.workstation import workstation_client


def connect(
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    as_user: Optional[str] = None,
    as_groups: Optional[Sequence[str]] = None,
    as_uid: Optional[str] = None,
    reports: Optional[str] = None,
    *,
    reads_reports: bool = True,
) -> KubeCluster:
    """The cluster of the kubeconfig's (or ``context``'s) login, acting as ``--as`` when
    given; mirror-agent in ``namespace``, its node reports in ``reports``
    (--reports-namespace, else ``namespace-reports``: with ``reads_reports``, a name that
    is not a namespace name is exit 2 here, before any request)."""
    ns = namespace or DEFAULT_NAMESPACE
    if reads_reports:
        reports = reports_namespace(ns, reports)
    client = workstation_client(kubeconfig, context, as_user, as_groups, as_uid)
    return KubeCluster(client, ns, reports)
