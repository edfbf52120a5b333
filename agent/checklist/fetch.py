"""Reading what the checklist needs from the Kubernetes API, and its one write.

The only module of the checklist that talks to the cluster (through
:class:`agent.kube.client.KubeClient`). Each read is independent: a 403 becomes an
:class:`~agent.checklist.model.Unavailable` naming the verb, resource and namespace, a
404 on a list means the kind is not served here (no ImageDigestMirrorSet before 4.13, no
Machine API on some platforms) and reads as empty. Only 401 and an unreachable API end
the run, since nothing could be checked.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, Callable, Optional, TypeVar, Union

from agent.checklist.model import FetchedList, FetchedObject, Permission, Unavailable
from agent.checklist.snapshot import (
    MACHINE_API_NAMESPACE,
    SIGNATURES_LABEL,
    SIGNATURES_NAMESPACE,
    Reports,
    Snapshot,
)
from agent.kube.client import (
    ApiError,
    Forbidden,
    KubeClient,
    NotFound,
    Unauthorized,
    configmap_path,
    node_path,
)
from agent.kube.contract import (
    CHECKLIST_FIELD_MANAGER,
    CHECKLIST_KEY,
    CHECKS_CONFIGMAP,
    REPORT_SELECTOR,
    configmap_name,
    reports_namespace,
)
from agent.vocabulary import Json

T = TypeVar("T")

CLUSTER_VERSION = "/apis/config.openshift.io/v1/clusterversions/version"
IMAGE_CONFIG = "/apis/config.openshift.io/v1/images/cluster"
POOLS = "/apis/machineconfiguration.openshift.io/v1/machineconfigpools"
HEALTH_CHECKS = (
    f"/apis/machine.openshift.io/v1beta1/namespaces/{MACHINE_API_NAMESPACE}/machinehealthchecks"
)
BUDGETS = "/apis/policy/v1/poddisruptionbudgets"
ICSPS = "/apis/operator.openshift.io/v1alpha1/imagecontentsourcepolicies"
IDMSS = "/apis/config.openshift.io/v1/imagedigestmirrorsets"
ITMSS = "/apis/config.openshift.io/v1/imagetagmirrorsets"


def _guard(call: Callable[[], T], permission: Permission, missing: T) -> Union[T, Unavailable]:
    """Run one read; its failure becomes an Unavailable (401 propagates)."""
    try:
        return call()
    except Unauthorized:
        raise
    except Forbidden as exc:
        return Unavailable(exc.api_message, permission)
    except NotFound:
        return missing
    except ApiError as exc:
        where = f" in {permission.namespace}" if permission.namespace else ""
        return Unavailable(f"{permission.verb} {permission.resource}{where}: {exc}")


class KubeCluster:
    """The cluster as the checklist sees it, through one client."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str = "mirror-agent",
        reports_namespace: Optional[str] = None,
    ) -> None:
        self.client = client
        self.namespace = namespace  # the DaemonSet and its checks ConfigMap
        self._reports_given = reports_namespace  # --reports-namespace
        self.server = client.config.server
        self._get_reports_one_by_one = True

    @property
    def reports_namespace(self) -> str:
        """Where the node reports live: --reports-namespace, else ``namespace-reports``
        (a name that is not a namespace name: UsageError). Worked out when first needed:
        ``checklist cleanup`` reads no report."""
        return reports_namespace(self.namespace, self._reports_given)

    # -- reads ---------------------------------------------------------------------------

    def get(
        self, path: str, verb_resource: tuple[str, str], namespace: Optional[str] = None
    ) -> FetchedObject:
        permission = Permission(verb_resource[0], verb_resource[1], namespace)
        return _guard(lambda: self.client.get(path), permission, None)

    def list(
        self,
        path: str,
        resource: str,
        namespace: Optional[str] = None,
        label_selector: Optional[str] = None,
    ) -> FetchedList:
        permission = Permission("list", resource, namespace)
        empty: list[Json] = []
        return _guard(
            lambda: list(self.client.list(path, label_selector=label_selector)), permission, empty
        )

    def read(self, *, pre: bool) -> Snapshot:
        """Everything the pre-upgrade (or post-upgrade) items need."""
        ns = self.namespace
        snapshot = Snapshot(
            server=self.server, namespace=ns, reports_namespace=self.reports_namespace
        )
        snapshot.cluster_version = self.get(
            CLUSTER_VERSION, ("get", "clusterversions.config.openshift.io")
        )
        snapshot.nodes = self.list(node_path(), "nodes")
        snapshot.pools = self.list(POOLS, "machineconfigpools.machineconfiguration.openshift.io")
        snapshot.health_checks = self.list(
            HEALTH_CHECKS, "machinehealthchecks.machine.openshift.io", MACHINE_API_NAMESPACE
        )
        snapshot.daemonset = self.get(
            f"/apis/apps/v1/namespaces/{ns}/daemonsets/mirror-agent", ("get", "daemonsets.apps"), ns
        )
        snapshot.checks = self.read_checks()
        snapshot.reports = self.fetch_reports(None)
        if pre:
            snapshot.budgets = self.list(BUDGETS, "poddisruptionbudgets.policy")
            snapshot.icsps = self.list(ICSPS, "imagecontentsourcepolicies.operator.openshift.io")
            snapshot.idmss = self.list(IDMSS, "imagedigestmirrorsets.config.openshift.io")
            snapshot.itmss = self.list(ITMSS, "imagetagmirrorsets.config.openshift.io")
            snapshot.image_config = self.get(IMAGE_CONFIG, ("get", "images.config.openshift.io"))
            snapshot.signatures = self.list(
                configmap_path(SIGNATURES_NAMESPACE),
                "configmaps",
                SIGNATURES_NAMESPACE,
                label_selector=SIGNATURES_LABEL,
            )
        return snapshot

    def read_checks(self) -> FetchedObject:
        """The DaemonSet's checks ConfigMap (None when it does not exist)."""
        ns = self.namespace
        return self.get(configmap_path(ns, CHECKS_CONFIGMAP), ("get", "configmaps"), ns)

    def fetch_reports(self, nodes: Optional[Collection[str]]) -> Union[Reports, Unavailable]:
        """The report ConfigMaps: all of them (streamed), or those of ``nodes`` one by one."""
        ns = self.reports_namespace
        if nodes is not None and self._get_reports_one_by_one:
            reports = Reports()
            for node in sorted(nodes):
                try:
                    reports.add(self.client.get(configmap_path(ns, configmap_name(node))))
                except NotFound:
                    continue
                except Forbidden:
                    self._get_reports_one_by_one = False  # RBAC may allow list but not get
                    return self.fetch_reports(None)
                except Unauthorized:
                    raise
                except ApiError as exc:
                    return Unavailable(f"get configmaps in {ns}: {exc}")
            return reports

        def stream() -> Reports:
            items: Iterator[dict[str, Any]] = self.client.list(
                configmap_path(ns), label_selector=REPORT_SELECTOR
            )
            return Reports.of(items)

        return _guard(stream, Permission("list", "configmaps", ns), Reports())

    # -- the one write -------------------------------------------------------------------

    def apply_checklist(
        self, text: Optional[str], *, exists: bool = True
    ) -> Union[str, Unavailable]:
        """Server-side apply of the checks ConfigMap's ``checklist.txt`` under our own field
        manager (other keys, the administrator's, are untouched); ``None`` removes the key.
        ``exists``: whether the ConfigMap was there when read (an apply that creates it
        needs ``create``). Returns the API server's time of the write (RFC 3339)."""
        ns = self.namespace
        body: Json = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CHECKS_CONFIGMAP, "namespace": ns},
        }
        if text is not None:
            body["data"] = {CHECKLIST_KEY: text}
        path = configmap_path(ns, CHECKS_CONFIGMAP)
        permission = Permission("patch", "configmaps", ns)
        try:
            stored = self.client.apply(
                path, body, field_manager=CHECKLIST_FIELD_MANAGER, force=True
            )
        except Unauthorized:
            raise
        except Forbidden as exc:
            # An apply that creates the object is authorized as a create. The denial only
            # says so from Kubernetes 1.32 ("cannot create"); before, its reason is empty.
            if not exists or " cannot create " in exc.api_message:
                permission = Permission("create", "configmaps", ns)
            return Unavailable(exc.api_message, permission)
        except NotFound as exc:
            return Unavailable(
                f"namespace {ns} not found ({exc.api_message}): install mirror-agent"
            )
        except ApiError as exc:
            return Unavailable(f"patch configmaps in {ns}: {exc}")
        for entry in (stored.get("metadata") or {}).get("managedFields") or []:
            if entry.get("manager") == CHECKLIST_FIELD_MANAGER and entry.get("time"):
                return str(entry["time"])
        return ""  # no managed fields left (the key was removed): no server time to report
