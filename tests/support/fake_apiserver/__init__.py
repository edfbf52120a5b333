"""A fake Kubernetes API server for tests: real HTTPS, bearer tokens, an in-memory store.

It answers the way a real ``kube-apiserver`` does for what the agent and ``kubectl get``
use, so client code can be tested against faithful status codes, ``Status`` bodies and
messages:

* discovery (``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>/<version>``);
  ``/openapi/*`` answers 404, which kubectl tolerates;
* GET, LIST (label and field selectors, ``limit``/``continue`` pagination with
  ``remainingItemCount``, continue tokens that expire on demand), POST, PUT (with the
  ``resourceVersion`` check), DELETE (and delete-collection), PATCH as server-side apply
  (``application/apply-patch+yaml``, with ``managedFields`` and field-manager conflicts),
  merge patch and strategic merge patch (treated as a merge patch);
* validation: DNS-1123 names, label keys and values, the ConfigMap 1 MiB limit, the 3 MiB
  request-body limit, owner references, namespaces that must exist, core/v1 Events (an
  event about a Node lives in ``default``; a "new" event's reporting fields);
* fault injection: :meth:`FakeApiServer.inject` (any status, ``Retry-After``),
  :meth:`FakeApiServer.drop_connections`, :meth:`FakeApiServer.deny` (403),
  :meth:`FakeApiServer.rotate_token` (401 for the old token);
* every request is recorded in :attr:`FakeApiServer.requests`.

Kinds are registered with :meth:`FakeApiServer.register_kind` (ConfigMap, Namespace, Node,
DaemonSet and core/v1 Event are registered from the start). Known deviations from a real
API server are listed in the docstring of :class:`FakeApiServer`.

One concern per module:

* :mod:`.server`: :class:`FakeApiServer` (lifecycle, test controls, seeding, ``handle``);
* :mod:`.http`: requests, replies and the TLS ``ThreadingHTTPServer``;
* :mod:`.routing`: paths, discovery documents; :mod:`.resources`: the verbs on objects;
* :mod:`.store`: the sorted in-memory store, LIST pages and continue tokens;
* :mod:`.selectors`: label and field selectors;
* :mod:`.apply`: server-side apply, ``managedFields``, JSON merge patch;
* :mod:`.validation`: object and request-body validation; :mod:`.limits`: size limits;
* :mod:`.status`: ``Status`` bodies and :class:`ApiStatusError`;
* :mod:`.kinds`: registered kinds, what the server sets on create and update;
* :mod:`.access`: bearer tokens and the deny list (401, 403); :mod:`.faults`: injected
  faults and dropped connections;
* :mod:`.certs`: the self-signed CA and server certificate (``openssl``).

Run on its own (until Ctrl-C)::

    python -m tests.support.fake_apiserver --port 6443 --token secret --nodes 3
"""

from __future__ import annotations

from tests.support.fake_apiserver.access import DEFAULT_USER
from tests.support.fake_apiserver.http import RecordedRequest, Reply, Request
from tests.support.fake_apiserver.kinds import ResourceType
from tests.support.fake_apiserver.limits import MAX_CONFIGMAP_BYTES, MAX_REQUEST_BYTES
from tests.support.fake_apiserver.server import FakeApiServer
from tests.support.fake_apiserver.status import ApiStatusError

__all__ = [
    "DEFAULT_USER",
    "MAX_CONFIGMAP_BYTES",
    "MAX_REQUEST_BYTES",
    "ApiStatusError",
    "FakeApiServer",
    "RecordedRequest",
    "Reply",
    "Request",
    "ResourceType",
]
