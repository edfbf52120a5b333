"""Paths to answers: health, discovery (``/version``, ``/api``, ``/apis``...) and the
resource paths, whose requests go to :class:`~tests.support.fake_apiserver.resources.Resources`.

``/openapi/*`` and every other unknown path answer ``404 page not found`` (kubectl
tolerates it).
"""

from __future__ import annotations

from typing import Callable, Optional
from urllib.parse import unquote

from tests.support.fake_apiserver.http import Reply, Request, page_not_found
from tests.support.fake_apiserver.kinds import KindRegistry
from tests.support.fake_apiserver.resources import Resources
from tests.support.fake_apiserver.status import ApiStatusError, Json, generic_error

SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.4",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-14T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _accepts_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if not accept:
        return True
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(t in ("application/json", "application/*", "*/*", "application/yaml")
               for t in types)  # fmt: skip


def _discovery(request: Request, document: Json) -> Reply:
    if request.method != "GET":
        raise generic_error(405)
    return Reply.json(200, document)


class Router:
    """Answers an authenticated request by its path.

    ``server_address`` gives ``host:port`` for ``/api``'s ``serverAddressByClientCIDRs``
    (known once the server listens)."""

    def __init__(
        self, kinds: KindRegistry, resources: Resources, server_address: Callable[[], str]
    ) -> None:
        self.kinds = kinds
        self.resources = resources
        self.server_address = server_address

    def route(self, request: Request) -> Reply:
        """The reply to ``request`` (ApiStatusError for the error answers)."""
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return Reply(200, b"ok", content_type="text/plain; charset=utf-8")
        if not _accepts_json(request):
            raise ApiStatusError(
                406, "NotAcceptable",
                "only the following media types are accepted: application/json, "
                "application/yaml, application/vnd.kubernetes.protobuf",
            )  # fmt: skip
        segments = [unquote(s) for s in path.split("/")[1:]]
        if segments[:1] == ["api"]:
            if len(segments) == 1:
                return _discovery(request, self._api_versions())
            if segments[1] != "v1":
                return page_not_found()
            if len(segments) == 2:
                return _discovery(request, self._resource_list("", "v1"))
            return self._resource_request(request, "", "v1", segments[2:])
        if segments[:1] == ["apis"]:
            groups = self._groups()
            if len(segments) == 1:
                return _discovery(request, {
                    "kind": "APIGroupList", "apiVersion": "v1", "groups": list(groups.values())
                })  # fmt: skip
            if segments[1] not in groups:
                return page_not_found()
            if len(segments) == 2:
                return _discovery(request, {
                    "kind": "APIGroup", "apiVersion": "v1", **groups[segments[1]]
                })  # fmt: skip
            versions = [v["version"] for v in groups[segments[1]]["versions"]]
            if segments[2] not in versions:
                return page_not_found()
            if len(segments) == 3:
                return _discovery(request, self._resource_list(segments[1], segments[2]))
            return self._resource_request(request, segments[1], segments[2], segments[3:])
        if segments == ["version"]:
            return _discovery(request, SERVER_VERSION)
        return page_not_found()

    # -- discovery -----------------------------------------------------------------------

    def _api_versions(self) -> Json:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address()}
            ],
        }

    def _groups(self) -> dict[str, Json]:
        groups: dict[str, Json] = {}
        for rtype in self.kinds.all():
            if not rtype.group:
                continue
            entry = groups.setdefault(rtype.group, {"name": rtype.group, "versions": []})
            version = {"groupVersion": rtype.api_version, "version": rtype.version}
            if version not in entry["versions"]:
                entry["versions"].append(version)
        for entry in groups.values():
            entry["preferredVersion"] = entry["versions"][0]
        return groups

    def _resource_list(self, group: str, version: str) -> Json:
        resources = [
            t.discovery() for t in self.kinds.all() if (t.group, t.version) == (group, version)
        ]
        document: Json = {"kind": "APIResourceList"}
        if group:  # the real /api/v1 has no apiVersion here; groups have one
            document["apiVersion"] = "v1"
        document["groupVersion"] = f"{group}/{version}" if group else version
        document["resources"] = sorted(resources, key=lambda r: r["name"])
        return document

    # -- resources -----------------------------------------------------------------------

    def _resource_request(
        self, request: Request, group: str, version: str, rest: list[str]
    ) -> Reply:
        types = self.kinds.served_at(group, version)
        namespace: Optional[str] = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in types:
            rtype, namespace, tail = types[rest[2]], rest[1], rest[3:]
            if not rtype.namespaced:
                raise generic_error(404)
        elif rest[0] in types:
            rtype, tail = types[rest[0]], rest[1:]
            if rtype.namespaced and tail:  # /api/v1/configmaps/<name>: no such route
                raise generic_error(404)
        else:
            raise generic_error(404)
        if len(tail) > 1 or (tail and not tail[0]):  # subresources are not served
            raise generic_error(404)
        return self.resources.serve(request, rtype, namespace, tail[0] if tail else None)
