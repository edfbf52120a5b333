"""The fake API server itself: its lifecycle, what a test controls, seeding, and one
:meth:`~FakeApiServer.handle` entry point for every request."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Optional

import yaml

from tests.support.fake_apiserver.access import DEFAULT_USER, AccessControl
from tests.support.fake_apiserver.certs import CertBundle, shared_certs
from tests.support.fake_apiserver.faults import FaultPlan
from tests.support.fake_apiserver.http import (
    HttpsServer,
    RecordedRequest,
    Reply,
    Request,
    server_tls_context,
)
from tests.support.fake_apiserver.kinds import (
    KindRef,
    KindRegistry,
    ResourceType,
    carry_over,
    fill_new,
    now_timestamp,
)
from tests.support.fake_apiserver.resources import Resources
from tests.support.fake_apiserver.routing import SERVER_VERSION, Router
from tests.support.fake_apiserver.status import ApiStatusError, Json
from tests.support.fake_apiserver.store import ObjectStore
from tests.support.fake_apiserver.validation import validate_object


class FakeApiServer:
    """A Kubernetes API server on ``127.0.0.1`` (HTTPS, bearer token), for tests.

    Use it as a context manager (``with FakeApiServer(token="t") as server:``) or call
    :meth:`start`/:meth:`stop`. :attr:`url`, :attr:`ca_file` and :attr:`token` are what a
    client needs; :meth:`write_kubeconfig` writes them for kubectl.

    Known deviations from a real API server:

    * no watch: ``watch=true`` answers 405 MethodNotAllowed (discovery does not list the
      ``watch`` verb); no protobuf (415), no Table output (plain lists, which kubectl
      prints itself), no subresources (``/status``, ``/scale``: 404);
    * a continue token reads the *current* objects after its key, not a snapshot at its
      resourceVersion; tokens expire only when :meth:`expire_continue_tokens` is called;
      the ``resourceVersion``/``resourceVersionMatch`` parameters of a LIST are ignored;
    * strategic merge patch is a JSON merge patch (lists are replaced, not merged);
      JSON patch is not supported (415);
    * server-side apply owns ``data``/``binaryData``/``stringData`` keys and
      ``metadata.labels``/``annotations`` keys one by one; every other top-level field
      (``spec``...) and ``metadata.ownerReferences`` are atomic, replaced whole (the real
      server merges ``spec`` field by field and owner references by uid);
    * ``status`` is a subresource for every kind: PUT, PATCH and apply keep the stored
      one (POST and :meth:`put` keep what they are given);
    * field selectors know ``metadata.name`` and ``metadata.namespace``, and an Event's
      selectable fields (``involvedObject.*``...), nothing else; a continue
      token is not checked against the path that issued it;
    * HTTP/1.1 only (ALPN offers no h2); objects seeded with :meth:`put` get no
      ``managedFields``;
    * no admission, defaulting or garbage collection; deleting a Namespace removes its
      objects at once (no ``Terminating`` phase); DELETE answers a ``Status`` for every kind;
    * anonymous requests are rejected (401) everywhere, ``/version`` included, as with
      ``--anonymous-auth=false``; the primary token is :attr:`user`, tokens issued with
      :meth:`issue_token` and client certificates signed by the CA are who they say;
      authorization is a deny list (:meth:`deny`), impersonation needs a grant
      (:meth:`allow_impersonation`); a service account is impersonated as a user (no
      ``serviceaccounts`` check);
    * ``metadata.generation`` is set on every kind (it starts at 1 and grows when anything
      outside ``metadata``/``status`` changes), where the real server sets it only on
      kinds with a spec;
    * more lenient than a real server (nothing in the agent relies on these): an apply
      that changes nothing still writes (new resourceVersion, manager time); an apply's
      stale ``resourceVersion``, missing name, ``uid`` or ``managedFields`` are ignored
      rather than refused; unknown fields are stored (a real server drops them with a
      warning, or answers 500 to an apply); ConfigMap keys ``.``/``..``, changes to an
      immutable ConfigMap and some ownerReference kinds are accepted; an expired continue
      token's 410 carries no inconsistent-continue token; no ``/openapi`` (kubectl apply
      needs ``--validate=false``) and no SelfSubjectAccessReview (``kubectl auth can-i``).
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certs: Optional[CertBundle] = None,
        user: str = DEFAULT_USER,
        namespaces: Iterable[str] = ("default", "kube-system", "kube-public", "kube-node-lease"),
    ) -> None:
        self.host = host
        self.port = port
        self.certs = certs
        self.store = ObjectStore()
        self.kinds = KindRegistry(on_register=self.store.add_type)
        self.access = AccessControl(token, user)
        self.faults = FaultPlan()
        # Served as the server's own methods (their docs are there).
        self.register_kind = self.kinds.register
        self.inject = self.faults.inject
        self.drop_connections = self.faults.drop_connections
        self.clear_faults = self.faults.clear
        self.router = Router(
            self.kinds, Resources(self.store, self.kinds, self.access), self._address
        )
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._httpd: Optional[HttpsServer] = None
        self._thread: Optional[threading.Thread] = None
        self.register_kind("", "v1", "namespaces", "Namespace", False, short_names=("ns",))
        self.register_kind("", "v1", "nodes", "Node", False, short_names=("no",))
        self.register_kind("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",))
        self.register_kind("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",))
        self.register_kind("", "v1", "events", "Event", True, short_names=("ev",))
        for namespace in namespaces:
            self.add_namespace(namespace)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeApiServer:
        """Listen (an ephemeral port unless one was given) and serve in a thread."""
        if self._httpd is not None:
            return self
        if self.certs is None:
            self.certs = shared_certs()
        httpd = HttpsServer((self.host, self.port), self.handle, server_tls_context(self.certs))
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
            name=f"fake-apiserver:{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    def _address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>`` (only meaningful once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_file(self) -> str:
        """The CA certificate that signed the server's certificate (PEM file path)."""
        if self.certs is None:
            self.certs = shared_certs()
        return str(self.certs.ca_file)

    @property
    def token(self) -> str:
        """The bearer token accepted now."""
        return self.access.token

    @property
    def user(self) -> str:
        """The user every valid token stands for (named in 403 messages)."""
        return self.access.user

    def write_kubeconfig(self, path: Path, namespace: Optional[str] = None) -> Path:
        """A kubeconfig for kubectl (server, certificate-authority, token) at ``path``."""
        context: Json = {"cluster": "fake", "user": "fake"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {
                "server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
            "preferences": {},
        }  # fmt: skip
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    # -- faults, authentication, authorisation ------------------------------------------

    def rotate_token(self, new_token: str) -> None:
        """Accept ``new_token`` from now on; the old one answers 401."""
        self.access.rotate_token(new_token)

    def issue_token(
        self,
        token: str,
        user: str,
        groups: Iterable[str] = (),
        *,
        expires_at: Optional[float] = None,
    ) -> None:
        """Accept ``token`` for ``user`` (in ``groups``) until ``expires_at`` (seconds since
        the epoch, on the server's clock: see :meth:`advance_clock`), or for ever."""
        self.access.issue_token(token, user, tuple(groups), expires_at=expires_at)

    def revoke_token(self, token: str) -> None:
        """An issued token answers 401 from now on."""
        self.access.revoke_token(token)

    def advance_clock(self, seconds: float) -> None:
        """Move the server's clock forward: issued tokens expire by it."""
        self.access.advance_clock(seconds)

    def now(self) -> float:
        """The server's clock (seconds since the epoch)."""
        return self.access.now()

    def allow_impersonation(self, user: str, resource: str = "*", name: str = "*") -> None:
        """Let ``user`` impersonate: the ``impersonate`` verb on ``resource`` (``users``,
        ``groups``, ``uids``, ``userextras/<key>``, ``*``) for ``name`` (or ``*``)."""
        self.access.allow_impersonation(user, resource, name)

    def deny(
        self,
        verb: str,
        resource: str,
        namespace: Optional[str] = None,
        *,
        user: Optional[str] = None,
    ) -> None:
        """Answer 403 Forbidden to ``verb`` on ``resource`` (plural, ``plural.group`` too),
        in ``namespace`` only or everywhere (None), for ``user`` only or everyone."""
        self.access.deny(verb, resource, namespace, user=user)

    def allow_all(self) -> None:
        """Forget every :meth:`deny` and :meth:`use_rbac`."""
        self.access.allow_all()

    def use_rbac(self, documents: Iterable[dict[str, Any]]) -> None:
        """From now on, authorize the user by the RBAC objects in ``documents`` (the
        manifests' Roles, ClusterRoles and bindings)."""
        self.access.use_rbac(documents)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def expire_continue_tokens(self) -> None:
        """Every continue token issued so far answers 410 Expired from now on."""
        self.store.expire_continue_tokens()

    # -- kinds -------------------------------------------------------------------------

    def resource_types(self) -> list[ResourceType]:
        """Every registered kind."""
        return self.kinds.all()

    def resource_type(self, ref: KindRef, api_version: Optional[str] = None) -> ResourceType:
        """A registered kind by Kind (``ConfigMap``), plural (``configmaps``) or
        ``plural.group``; ``api_version`` narrows the search. KeyError when unknown."""
        return self.kinds.find(ref, api_version)

    # -- seeding (no authentication, no faults) -------------------------------------------

    def add_namespace(self, name: str, labels: Optional[Mapping[str, str]] = None) -> Json:
        """Create (or replace) a Namespace; the stored object."""
        obj: Json = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if labels:
            obj["metadata"]["labels"] = dict(labels)
        return self.put(obj)

    def add_node(
        self,
        name: str,
        labels: Optional[Mapping[str, str]] = None,
        annotations: Optional[Mapping[str, str]] = None,
        taints: Optional[list[Json]] = None,
    ) -> Json:
        """Create (or replace) a Ready Node with the usual well-known labels; the stored
        object (with its ``metadata.uid``)."""
        all_labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            **(labels or {}),
        }
        obj: Json = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": all_labels},
            "spec": {},
            "status": {
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now_timestamp(), "lastTransitionTime": now_timestamp(),
                }],
                "addresses": [{"type": "Hostname", "address": name}],
                "nodeInfo": {
                    "architecture": "amd64", "operatingSystem": "linux",
                    "kubeletVersion": SERVER_VERSION["gitVersion"],
                    "containerRuntimeVersion": "cri-o://1.30.4",
                    "osImage": "Red Hat Enterprise Linux CoreOS 417.94",
                },
            },
        }  # fmt: skip
        if annotations:
            obj["metadata"]["annotations"] = dict(annotations)
        if taints:
            obj["spec"]["taints"] = copy.deepcopy(taints)
        return self.put(obj)

    def put(self, obj: Mapping[str, Any]) -> Json:
        """Create or replace an object of any registered kind (by ``apiVersion``/``kind``),
        bypassing authentication and faults but not validation; a missing Namespace is
        created. Managed fields are kept as given. Returns the stored object (a copy)."""
        new = copy.deepcopy(dict(obj))
        rtype = self.resource_type(str(new.get("kind")), str(new.get("apiVersion")))
        meta = new.setdefault("metadata", {})
        namespace = meta.get("namespace") or ("default" if rtype.namespaced else None)
        if rtype.namespaced:
            meta["namespace"] = namespace
            if self.store.get(self.kinds.namespaces(), None, str(namespace)) is None:
                self.add_namespace(str(namespace))
        with self.store.lock:
            old = self.store.get(rtype, namespace, str(meta.get("name") or ""))
            validate_object(rtype, new)
            if old is None:
                fill_new(rtype, new, namespace)
            else:
                carry_over(rtype, old.obj, new)
            return copy.deepcopy(self.store.write(rtype, new).obj)

    def get_object(
        self, kind: KindRef, name: str, namespace: Optional[str] = None
    ) -> Optional[Json]:
        """A stored object (a copy) by kind, name and namespace, or None."""
        rtype = self.resource_type(kind)
        stored = self.store.get(rtype, namespace, name)
        return copy.deepcopy(stored.obj) if stored else None

    def objects(self, kind: KindRef, namespace: Optional[str] = None) -> list[Json]:
        """Every stored object of a kind (copies, in key order), optionally in one namespace."""
        rtype = self.resource_type(kind)
        return [
            copy.deepcopy(s.obj) for s in self.store.all(rtype)
            if namespace is None or s.obj["metadata"].get("namespace") == namespace
        ]  # fmt: skip

    def delete_object(self, kind: KindRef, name: str, namespace: Optional[str] = None) -> bool:
        """Remove a stored object (no authentication); whether it existed."""
        return self.store.delete(self.resource_type(kind), namespace, name)

    # -- requests ------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Answer one request (the HTTP handler's only entry point; usable without HTTP)."""
        with self._lock:
            self._requests.append(RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers),
                request.header_list, request.peer_cert,
            ))  # fmt: skip
        faulty = self.faults.take(request.method, request.path)
        if faulty is not None:
            return faulty
        try:
            self.access.authenticate(request.headers, request.peer_cert, request.header_list)
            return self.router.route(request)
        except ApiStatusError as exc:
            return Reply.error(exc)
        except Exception as exc:  # a bug in the fake must still answer like a server
            return Reply.error(ApiStatusError(
                500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}"
            ))  # fmt: skip
