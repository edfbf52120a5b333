"""``agent collect``: fetch every node's report (from the cluster or from files) and summarise.

The summary itself is pure and lives in :mod:`agent.collect`; this module only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from agent.collect import Summary, summarise
from agent.documents import DocumentError, parse_json
from agent.errors import UsageError
from agent.kube.contract import REPORT_SELECTOR
from agent.safe_read import REPORTS_FILE_LIMIT, read_text_or_stdin

DAEMONSET = "mirror-agent"


def read_json_list(path: str, what: str) -> list[dict[str, Any]]:
    """The items of a ``oc get ... -o json`` document in ``path`` (``-``: standard input)."""
    text = read_text_or_stdin(path, limit=REPORTS_FILE_LIMIT)
    try:
        document = parse_json(text, "standard input" if path == "-" else path)
    except DocumentError as exc:
        raise UsageError(str(exc)) from None
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        return [item for item in document["items"] if isinstance(item, dict)]
    if isinstance(document, dict) and document.get("kind") in ("ConfigMap", "Node"):
        return [document]
    raise UsageError(f"{path}: expected a {what} (as oc get ... -o json prints it)")


def collect_from_files(
    reports_file: str, nodes_file: Optional[str], *, max_age: Optional[timedelta]
) -> Summary:
    """``--from-file``: a ConfigMapList, and optionally a NodeList, as ``oc get -o json``."""
    reports = read_json_list(reports_file, "ConfigMapList")
    nodes = read_json_list(nodes_file, "NodeList") if nodes_file else None
    return summarise(reports, nodes, daemonset=None, now=_now(), max_age=max_age)


def collect_from_cluster(
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    *,
    max_age: Optional[timedelta],
    as_user: Optional[str] = None,
    as_groups: Optional[Sequence[str]] = None,
    as_uid: Optional[str] = None,
) -> Summary:
    """The report ConfigMaps and the Nodes, streamed page by page into the summary (acting
    as ``--as`` when given)."""
    from agent.kube.client import ApiError, configmap_path, node_path
    from agent.kube.config import DEFAULT_NAMESPACE
    from agent.kube.workstation import workstation_client

    client = workstation_client(kubeconfig, context, as_user, as_groups, as_uid)
    ns = namespace or DEFAULT_NAMESPACE
    daemonset: Optional[dict[str, Any]]
    try:
        daemonset = client.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{DAEMONSET}")
    except ApiError:
        daemonset = None  # not readable: every node is expected
    reports: Iterable[dict[str, Any]] = client.list(
        configmap_path(ns), label_selector=REPORT_SELECTOR
    )
    nodes: Iterable[dict[str, Any]] = client.list(node_path())
    return summarise(reports, nodes, daemonset=daemonset, now=_now(), max_age=max_age)


def _now() -> datetime:
    return datetime.now(timezone.utc)
