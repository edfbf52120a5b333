"""``agent collect``: fetch every node's report (from the cluster or from files) and summarise.

The summary itself is pure and lives in :mod:`agent.collect`; this module only reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional

from agent.collect import Summary, summarise
from agent.documents import DocumentError, parse_json
from agent.errors import UsageError
from agent.kube.contract import (
    CHECKS_CONFIGMAP,
    RECHECK_KEY,
    REPORT_SELECTOR,
    no_report_found,
    reports_namespace,
)
from agent.safe_read import REPORTS_FILE_LIMIT, read_text_or_stdin

if TYPE_CHECKING:
    from agent.kube.client import KubeClient

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
    reports: Optional[str] = None,
    as_user: Optional[str] = None,
    as_groups: Optional[Sequence[str]] = None,
    as_uid: Optional[str] = None,
) -> Summary:
    """The report ConfigMaps and the Nodes, streamed page by page into the summary (acting
    as ``--as`` when given)."""
    return cluster_reader(
        kubeconfig, context, namespace, max_age=max_age, reports=reports,
        as_user=as_user, as_groups=as_groups, as_uid=as_uid,
    )()  # fmt: skip


#: Report ConfigMaps per list page: the first page's size and the least, and about how
#: many bytes a page may hold. A report is up to ~1 MiB (220 KB typical with logs, 5 KB
#: without): pages of at least 20, about 2 MiB, keep the exporter's peak memory to a page
#: or two, not the whole cluster (docs/alerts.md gives the measured figure), while small
#: reports come ~380 at a time instead of 20 (5,000 nodes: 14 requests, not 250).
REPORT_PAGE = 20
REPORT_PAGE_BYTES = 2 * 1024**2


def cluster_reader(
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    *,
    max_age: Optional[timedelta],
    reports: Optional[str] = None,
    as_user: Optional[str] = None,
    as_groups: Optional[Sequence[str]] = None,
    as_uid: Optional[str] = None,
) -> Callable[[], Summary]:
    """A function that reads the cluster's summary each time it is called, over one client
    (``--serve-metrics`` calls it on an interval). The kubeconfig is read once, here. The
    reports are listed in ``reports`` (--reports-namespace), else in mirror-agent's
    namespace + ``-reports``; the DaemonSet and the checks ConfigMap in mirror-agent's."""
    from agent.kube.client import ApiError, configmap_path, node_path

    client, ns = cluster_client(kubeconfig, context, namespace, as_user, as_groups, as_uid)
    reports_ns = reports_namespace(ns, reports)

    def read() -> Summary:
        daemonset, problem = read_daemonset(client.get, ns)
        configmaps: Iterable[dict[str, Any]] = client.list(
            configmap_path(reports_ns),
            label_selector=REPORT_SELECTOR,
            limit=REPORT_PAGE,
            page_bytes=REPORT_PAGE_BYTES,
        )
        nodes: Iterable[dict[str, Any]] = client.list(node_path())
        try:  # agent recheck's requests, to tell which nodes have checked since
            checks = client.get(configmap_path(ns, CHECKS_CONFIGMAP))
            recheck = (checks.get("data") or {}).get(RECHECK_KEY)
        except ApiError:
            recheck = None
        return summarise(
            configmaps,
            nodes,
            daemonset=daemonset,
            now=_now(),
            max_age=max_age,
            daemonset_problem=problem,
            recheck=recheck,
            no_report_warning=no_report_found(reports_ns, ns),
        )

    return read


#: Reads of the DaemonSet after the client's own retries (429, 5xx, connection) gave up.
DAEMONSET_READS = 2


def read_daemonset(
    get: Callable[[str], dict[str, Any]], namespace: str
) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """The DaemonSet (which nodes should report), or None and why it could not be read.

    Refused or absent (403, 404) is final; a server in trouble is asked again."""
    from agent.kube.client import ApiError, NotFound, Unreachable

    problem = None
    for _ in range(DAEMONSET_READS):
        try:
            return get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{DAEMONSET}"), None
        except Unreachable:
            raise  # the client has retried already, and no report could be read either
        except ApiError as error:
            problem = f"daemonset {namespace}/{DAEMONSET}: {error}"
            if isinstance(error, NotFound) or getattr(error, "status", None) in (401, 403):
                break
    return None, problem


def cluster_client(
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    as_user: Optional[str] = None,
    as_groups: Optional[Sequence[str]] = None,
    as_uid: Optional[str] = None,
) -> tuple[KubeClient, str]:
    """The API client and mirror-agent's namespace: the kubeconfig (--kubeconfig,
    KUBECONFIG, ~/.kube/config, with --as...) and -n, else mirror-agent; in a pod without
    a kubeconfig, its service account and its own namespace."""
    from agent.kube.client import KubeClient
    from agent.kube.config import DEFAULT_NAMESPACE, in_cluster
    from agent.kube.workstation import workstation_client

    if not kubeconfig and not os.environ.get("KUBECONFIG") and _in_a_pod(os.environ):
        # the exporter's Deployment: its service account, and the namespace it runs in
        config = in_cluster(os.environ)
        return KubeClient(config), namespace or config.namespace or DEFAULT_NAMESPACE
    client = workstation_client(kubeconfig, context, as_user, as_groups, as_uid)
    return client, namespace or DEFAULT_NAMESPACE


def _in_a_pod(env: Mapping[str, str]) -> bool:
    from agent.kube.config import SERVICE_ACCOUNT

    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def _now() -> datetime:
    return datetime.now(timezone.utc)
