"""The fake Kubernetes API server answers as a real one does (tests.support.fake_apiserver).

Every request goes over real HTTPS with ``requests``, verified against the fake's CA. The
session ignores the environment (``trust_env = False``): requests lets
``REQUESTS_CA_BUNDLE`` override ``Session.verify``, and that variable is set on CI images.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import MAX_CONFIGMAP_BYTES, MAX_REQUEST_BYTES, FakeApiServer

TOKEN = "test-token"
NS = "mirror-agent"
USER = "system:serviceaccount:mirror-agent:mirror-agent"
CM = f"/api/v1/namespaces/{NS}/configmaps"


class Api:
    """A ``requests`` session for one fake server: its CA, its URL and a bearer token."""

    def __init__(self, server: FakeApiServer, token: Optional[str] = TOKEN) -> None:
        self.server = server
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the CA below

    def request(
        self, method: str, path: str, *, token: Optional[str] = "", **kwargs: Any
    ) -> requests.Response:
        """Send one request; ``token=None`` sends no Authorization header."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        bearer = self.token if token == "" else token
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return self.session.request(
            method, self.server.url + path, headers=headers, verify=self.server.ca_file,
            timeout=10, **kwargs,
        )  # fmt: skip

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, obj: Any, **kwargs: Any) -> requests.Response:
        """POST a JSON body."""
        return self.request("POST", path, data=json.dumps(obj), **kwargs)

    def put(self, path: str, obj: Any, **kwargs: Any) -> requests.Response:
        """PUT a JSON body."""
        return self.request("PUT", path, data=json.dumps(obj), **kwargs)

    def apply(
        self, path: str, obj: Any, manager: Optional[str] = "mirror-agent", force: bool = True
    ) -> requests.Response:
        """Server-side apply, as agent.kube.client sends it."""
        params = {"force": "true" if force else "false"}
        if manager is not None:
            params["fieldManager"] = manager
        return self.request(
            "PATCH", path, params=params, data=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )  # fmt: skip


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    """A started fake API server with the namespace ``mirror-agent``."""
    with FakeApiServer(token=TOKEN) as fake:
        fake.add_namespace(NS)
        yield fake


@pytest.fixture
def api(server: FakeApiServer) -> Iterator[Api]:
    """A client of :func:`server` holding its token."""
    client = Api(server)
    yield client
    client.session.close()


def configmap(name: str, data: Optional[dict[str, str]] = None, **meta: Any) -> dict[str, Any]:
    """A ConfigMap body."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data if data is not None else {"k": "v"},
    }


def status(response: requests.Response) -> dict[str, Any]:
    """The Status body of an error answer (asserting it is one)."""
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == response.status_code
    return body


# --------------------------------------------------------------------------------------
# transport, authentication, authorisation


def test_serves_https_verified_by_its_ca(server: FakeApiServer, api: Api) -> None:
    assert server.url.startswith("https://127.0.0.1:") and Path(server.ca_file).is_file()
    assert api.get("/version").json()["gitVersion"].startswith("v1.")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/version", verify=True, timeout=5)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_invalid_token_is_401(api: Api, token: Optional[str]) -> None:
    response = api.get(CM, token=token)
    assert response.status_code == 401
    assert response.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    }  # fmt: skip


def test_rotated_token_invalidates_the_old_one(server: FakeApiServer, api: Api) -> None:
    assert api.get(CM).status_code == 200
    server.rotate_token("rotated")
    assert api.get(CM).status_code == 401
    assert api.get(CM, token="rotated").status_code == 200
    assert server.token == "rotated"


def test_deny_answers_403_in_the_real_wording(server: FakeApiServer, api: Api) -> None:
    server.deny("list", "configmaps", namespace=NS)
    body = status(api.get(CM))
    assert body["reason"] == "Forbidden" and body["details"] == {"kind": "configmaps"}
    assert body["message"] == (
        f'configmaps is forbidden: User "{USER}" cannot list resource "configmaps" in API '
        f'group "" in the namespace "{NS}"'
    )
    assert api.get("/api/v1/namespaces/default/configmaps").status_code == 200  # other ns
    server.deny("get", "nodes")
    server.add_node("n1")
    body = status(api.get("/api/v1/nodes/n1"))
    assert body["message"] == (
        f'nodes "n1" is forbidden: User "{USER}" cannot get resource "nodes" in API group "" '
        "at the cluster scope"
    )
    server.allow_all()
    assert api.get(CM).status_code == 200


# --------------------------------------------------------------------------------------
# discovery and routing


def test_discovery_documents(api: Api) -> None:
    assert api.get("/api").json()["versions"] == ["v1"]
    core = api.get("/api/v1").json()
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert {"configmaps", "nodes", "namespaces"} <= set(by_name)
    assert by_name["configmaps"]["namespaced"] and not by_name["nodes"]["namespaced"]
    assert by_name["configmaps"]["kind"] == "ConfigMap" and "list" in by_name["configmaps"]["verbs"]
    groups = api.get("/apis").json()
    assert groups["kind"] == "APIGroupList"
    apps = next(g for g in groups["groups"] if g["name"] == "apps")
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    apps_v1 = api.get("/apis/apps/v1").json()
    assert [r["kind"] for r in apps_v1["resources"]] == ["DaemonSet"]
    for missing in ("/openapi/v2", "/openapi/v3", "/apis/nope/v1", "/api/v2"):
        assert api.get(missing).status_code == 404, missing


def test_unknown_resource_wrong_method_and_watch(api: Api) -> None:
    body = status(api.get(f"/api/v1/namespaces/{NS}/widgets"))
    assert body["reason"] == "NotFound" and body["code"] == 404
    assert status(api.request("PATCH", CM))["reason"] == "MethodNotAllowed"
    assert status(api.post(f"{CM}/x", configmap("x")))["code"] == 405
    assert status(api.post("/api/v1/configmaps", configmap("x")))["code"] == 405
    assert status(api.get(CM, params={"watch": "true"}))["code"] == 405
    assert api.get(f"{CM}/x/status").status_code == 404  # no subresources


def test_registered_kinds_are_served_and_discovered(server: FakeApiServer, api: Api) -> None:
    server.register_kind("config.openshift.io", "v1", "clusterversions", "ClusterVersion", False)
    server.register_kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True)
    groups = {g["name"] for g in api.get("/apis").json()["groups"]}
    assert {"apps", "config.openshift.io", "policy"} <= groups
    cv = {"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
          "metadata": {"name": "version"}, "spec": {"channel": "stable-4.16"}}  # fmt: skip
    path = "/apis/config.openshift.io/v1/clusterversions"
    assert api.post(path, cv).status_code == 201
    listed = api.get(path).json()
    assert listed["kind"] == "ClusterVersionList"
    assert listed["items"][0]["kind"] == "ClusterVersion"  # custom resources keep their kind
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "p"}, "spec": {"maxUnavailable": 1}}  # fmt: skip
    pdbs = f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"
    assert api.apply(f"{pdbs}/p", pdb).status_code == 201
    assert api.get(f"{pdbs}/p").json()["spec"] == {"maxUnavailable": 1}
    assert "kind" not in api.get(pdbs).json()["items"][0]  # built-in list items do not
    assert server.get_object("PodDisruptionBudget", "p", NS) is not None


# --------------------------------------------------------------------------------------
# create, read, update, delete


def test_create_get_update_delete(api: Api) -> None:
    created = api.post(CM, configmap("a"))
    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert meta["namespace"] == NS and meta["generation"] == 1
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    again = status(api.post(CM, configmap("a")))
    assert (again["code"], again["reason"]) == (409, "AlreadyExists")
    assert again["message"] == 'configmaps "a" already exists'
    fetched = api.get(f"{CM}/a").json()
    assert fetched["kind"] == "ConfigMap" and fetched["apiVersion"] == "v1"
    assert fetched["metadata"]["uid"] == meta["uid"]

    fetched["data"] = {"k": "v2"}
    updated = api.put(f"{CM}/a", fetched)
    assert updated.status_code == 200
    new_meta = updated.json()["metadata"]
    assert int(new_meta["resourceVersion"]) > int(meta["resourceVersion"])
    assert new_meta["uid"] == meta["uid"] and new_meta["generation"] == 2

    deleted = api.request("DELETE", f"{CM}/a")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "Success"
    assert deleted.json()["details"] == {"name": "a", "kind": "configmaps", "uid": meta["uid"]}
    missing = status(api.get(f"{CM}/a"))
    assert (missing["reason"], missing["message"]) == ("NotFound", 'configmaps "a" not found')
    assert status(api.request("DELETE", f"{CM}/a"))["code"] == 404
    assert status(api.put(f"{CM}/a", fetched))["code"] == 404  # no create on update


def test_stale_resource_version_is_409_conflict(api: Api) -> None:
    first = api.post(CM, configmap("x")).json()
    second = json.loads(json.dumps(first))
    first["data"] = {"k": "first"}
    assert api.put(f"{CM}/x", first).status_code == 200
    second["data"] = {"k": "second"}
    body = status(api.put(f"{CM}/x", second))
    assert body["reason"] == "Conflict" and body["details"] == {"name": "x", "kind": "configmaps"}
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "x": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    del second["metadata"]["resourceVersion"]  # unconditional update
    assert api.put(f"{CM}/x", second).json()["data"] == {"k": "second"}


def test_create_in_a_missing_namespace_is_404(api: Api) -> None:
    body = status(api.post("/api/v1/namespaces/nope/configmaps", configmap("a")))
    assert body["reason"] == "NotFound" and body["message"] == 'namespaces "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "namespaces"}
    assert api.get("/api/v1/namespaces/nope/configmaps").json()["items"] == []


def test_merge_patch(api: Api) -> None:
    api.post(CM, configmap("m", {"a": "1", "b": "2"}, labels={"x": "1"}))
    patch = {"metadata": {"labels": {"y": "2"}}, "data": {"a": None, "c": "3"}}
    patched = api.request(
        "PATCH", f"{CM}/m", data=json.dumps(patch),
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()  # fmt: skip
    assert patched["data"] == {"b": "2", "c": "3"}
    assert patched["metadata"]["labels"] == {"x": "1", "y": "2"}
    stale = {"metadata": {"resourceVersion": "1"}, "data": {"a": "9"}}
    response = api.request(
        "PATCH", f"{CM}/m", data=json.dumps(stale),
        headers={"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert status(response)["reason"] == "Conflict"
    unsupported = api.request(
        "PATCH", f"{CM}/m", data="[]", headers={"Content-Type": "application/json-patch+json"}
    )
    assert status(unsupported)["code"] == 415


def test_delete_collection_by_label(api: Api) -> None:
    for name, team in (("a", "red"), ("b", "blue"), ("c", "red")):
        api.post(CM, configmap(name, labels={"team": team}))
    deleted = api.request("DELETE", CM, params={"labelSelector": "team=red"}).json()
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a", "c"]
    assert [i["metadata"]["name"] for i in api.get(CM).json()["items"]] == ["b"]


# --------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash", "a" * 254, "dot."])
def test_invalid_names_are_422(api: Api, name: str) -> None:
    body = status(api.post(CM, configmap(name)))
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(f'ConfigMap "{name}" is invalid: metadata.name: ')
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"


def test_longest_valid_name_is_accepted(api: Api) -> None:
    name = ".".join(["a" * 63] * 4)[:253].rstrip(".")
    assert api.post(CM, configmap(name)).status_code == 201


@pytest.mark.parametrize(
    ("labels", "ok"),
    [
        ({"app.kubernetes.io/name": "v" * 63}, True),
        ({"k": ""}, True),
        ({"k": "A-b_c.9"}, True),
        ({"k": "v" * 64}, False),
        ({"k": "bad value"}, False),
        ({"k": "-starts-with-dash"}, False),
        ({"bad key!": "v"}, False),
        ({"Upper.Prefix/name": "v"}, False),
    ],
)
def test_label_syntax(api: Api, labels: dict[str, str], ok: bool) -> None:
    response = api.post(CM, configmap("l", labels=labels))
    if ok:
        assert response.status_code == 201
    else:
        body = status(response)
        assert body["reason"] == "Invalid"
        assert body["details"]["causes"][0]["field"] == "metadata.labels"


def test_configmap_limit_is_exactly_one_mebibyte(api: Api) -> None:
    exact = configmap("exact", {"a": "x" * (MAX_CONFIGMAP_BYTES - 10), "b": "y" * 10})
    assert api.post(CM, exact).status_code == 201
    over = configmap("over", {"a": "x" * (MAX_CONFIGMAP_BYTES - 10), "b": "y" * 11})
    body = status(api.post(CM, over))
    assert body["message"] == (
        'ConfigMap "over" is invalid: []: Too long: must have at most 1048576 bytes'
    )
    assert body["details"]["causes"] == [{
        "reason": "FieldValueTooLong", "message": "Too long: must have at most 1048576 bytes",
        "field": "[]",
    }]  # fmt: skip
    assert status(api.apply(f"{CM}/over", over))["code"] == 422  # apply validates too
    multibyte = configmap("utf8", {"a": "\u00e9" * (MAX_CONFIGMAP_BYTES // 2 + 1)})
    utf8 = json.dumps(multibyte, ensure_ascii=False).encode()
    assert status(api.request("POST", CM, data=utf8))["code"] == 422  # bytes, not characters


def test_request_body_over_3_mib_is_413(api: Api) -> None:
    body = json.dumps(configmap("big", {"a": "x" * MAX_REQUEST_BYTES}))
    response = api.request("POST", CM, data=body)
    assert status(response)["reason"] == "RequestEntityTooLarge"
    assert response.json()["message"] == "Request entity too large: limit is 3145728"
    assert api.get(CM).status_code == 200  # the connection is still usable


@pytest.mark.parametrize("missing", ["apiVersion", "kind", "name", "uid"])
def test_owner_references_need_all_four_fields(api: Api, missing: str) -> None:
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u-1"}
    del owner[missing]
    body = status(api.post(CM, configmap("o", ownerReferences=[owner])))
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == f"metadata.ownerReferences.{missing}"
    assert "must not be empty" in body["message"]


def test_body_and_url_must_agree(api: Api) -> None:
    other_ns = configmap("a", namespace="default")
    assert status(api.post(CM, other_ns))["reason"] == "BadRequest"
    assert status(api.put(f"{CM}/b", configmap("a")))["reason"] == "BadRequest"
    wrong_kind = {**configmap("a"), "kind": "Secret"}
    assert status(api.post(CM, wrong_kind))["code"] == 400
    assert status(api.request("POST", CM, data="{not json"))["code"] == 400


# --------------------------------------------------------------------------------------
# LIST


def seed_configmaps(server: FakeApiServer, count: int, namespace: str = NS, size: int = 0) -> None:
    """``count`` ConfigMaps ``cm-00000``... with ``size`` bytes of data each."""
    for index in range(count):
        server.put(configmap(f"cm-{index:05d}", {"r": "x" * size}, namespace=namespace))


def test_pagination_of_1200_configmaps(server: FakeApiServer, api: Api) -> None:
    seed_configmaps(server, 1200)
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        page = api.get(CM, params=params).json()
        pages.append(page)
        if not page["metadata"].get("continue"):
            break
        params = {"limit": 500, "continue": page["metadata"]["continue"]}
    assert [len(p["items"]) for p in pages] == [500, 500, 200]
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [700, 200, None]
    assert all(p["kind"] == "ConfigMapList" and p["apiVersion"] == "v1" for p in pages)
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1  # one list, one rv
    names = [i["metadata"]["name"] for p in pages for i in p["items"]]
    assert names == [f"cm-{i:05d}" for i in range(1200)]  # ordered, no duplicates
    assert "kind" not in pages[0]["items"][0]  # built-in list items omit kind/apiVersion


def test_expired_continue_token_is_410(server: FakeApiServer, api: Api) -> None:
    seed_configmaps(server, 5)
    token = api.get(CM, params={"limit": 2}).json()["metadata"]["continue"]
    server.expire_continue_tokens()
    response = api.get(CM, params={"limit": 2, "continue": token})
    assert response.status_code == 410
    assert response.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": (
            "The provided continue parameter is too old to display a consistent list "
            "result. You can start a new list without the continue parameter."
        ),
        "reason": "Expired", "code": 410,
    }  # fmt: skip
    fresh = api.get(CM, params={"limit": 2}).json()["metadata"]["continue"]
    assert api.get(CM, params={"limit": 2, "continue": fresh}).status_code == 200
    assert status(api.get(CM, params={"continue": "garbage"}))["code"] == 400


def test_list_resource_version_follows_writes(api: Api) -> None:
    before = int(api.get(CM).json()["metadata"]["resourceVersion"])
    created = api.post(CM, configmap("a")).json()
    after = int(api.get(CM).json()["metadata"]["resourceVersion"])
    assert after > before and after >= int(created["metadata"]["resourceVersion"])


def test_cluster_wide_list_of_a_namespaced_kind(server: FakeApiServer, api: Api) -> None:
    server.put(configmap("one", namespace="default"))
    server.put(configmap("two", namespace=NS))
    server.put(configmap("three", namespace="zzz"))  # put creates the namespace
    items = api.get("/api/v1/configmaps").json()["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == [
        ("default", "one"), (NS, "two"), ("zzz", "three"),
    ]  # fmt: skip
    assert server.get_object("Namespace", "zzz") is not None


LABELLED = {
    "a": {"tier": "web", "env": "prod"},
    "b": {"tier": "db", "env": "prod"},
    "c": {"tier": "cache"},
    "d": {},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", "a"),
        ("tier==db", "b"),
        ("tier!=web", "bcd"),  # != also matches objects without the key
        ("tier in (web,db)", "ab"),
        ("tier in ( web , cache )", "ac"),
        ("tier notin (web,db)", "cd"),
        ("env", "ab"),
        ("!env", "cd"),
        ("env=prod,tier!=db", "a"),
        ("env,!tier", ""),
        ("", "abcd"),
    ],
)
def test_label_selectors(server: FakeApiServer, api: Api, selector: str, expected: str) -> None:
    for name, labels in LABELLED.items():
        server.put(configmap(name, namespace=NS, labels=labels))
    items = api.get(CM, params={"labelSelector": selector}).json()["items"]
    assert "".join(i["metadata"]["name"] for i in items) == expected


@pytest.mark.parametrize(
    "selector", ["tier in web", "=x", "a b", "a,", "tier in (a", "k=bad value"]
)
def test_malformed_label_selector_is_400(api: Api, selector: str) -> None:
    body = status(api.get(CM, params={"labelSelector": selector}))
    assert body["reason"] == "BadRequest" and "unable to parse requirement" in body["message"]


def test_selector_pages_without_remaining_count(server: FakeApiServer, api: Api) -> None:
    for index in range(10):
        server.put(configmap(f"s{index}", namespace=NS, labels={"even": str(index % 2 == 0)}))
    first = api.get(CM, params={"labelSelector": "even=True", "limit": 3}).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["s0", "s2", "s4"]
    assert "remainingItemCount" not in first["metadata"]  # unknown with a selector
    token = first["metadata"]["continue"]
    rest = api.get(CM, params={"labelSelector": "even=True", "limit": 3, "continue": token})
    assert [i["metadata"]["name"] for i in rest.json()["items"]] == ["s6", "s8"]


def test_field_selectors(server: FakeApiServer, api: Api) -> None:
    server.put(configmap("a", namespace=NS))
    server.put(configmap("b", namespace=NS))
    server.put(configmap("a", namespace="default"))
    by_name = api.get("/api/v1/configmaps", params={"fieldSelector": "metadata.name=a"}).json()
    assert [i["metadata"]["namespace"] for i in by_name["items"]] == ["default", NS]
    by_ns = api.get(
        "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace!={NS},metadata.name==a"}
    ).json()
    assert [i["metadata"]["namespace"] for i in by_ns["items"]] == ["default"]
    body = status(api.get(CM, params={"fieldSelector": "spec.nodeName=x"}))
    assert body["message"] == "field label not supported: spec.nodeName"


# --------------------------------------------------------------------------------------
# server-side apply


def owner(name: str) -> dict[str, Any]:
    """An owner reference to a DaemonSet."""
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name, "uid": f"uid-{name}"}


def test_apply_creates_then_updates_with_managed_fields(api: Api) -> None:
    first = configmap("r", {"a": "1", "b": "2"}, labels={"app": "x"}, ownerReferences=[owner("d1")])
    created = api.apply(f"{CM}/r", first)
    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert meta["managedFields"] == [{
        "manager": "mirror-agent", "operation": "Apply", "apiVersion": "v1",
        "time": meta["managedFields"][0]["time"], "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:data": {".": {}, "f:a": {}, "f:b": {}},
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:ownerReferences": {}},
        },
    }]  # fmt: skip
    label = {"metadata": {"labels": {"team": "t"}}}
    api.request(
        "PATCH", f"{CM}/r", params={"fieldManager": "kubectl-label"}, data=json.dumps(label),
        headers={"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip

    second = configmap(
        "r", {"a": "1", "c": "3"}, labels={"app": "y"}, ownerReferences=[owner("d2")]
    )
    updated = api.apply(f"{CM}/r", second)
    assert updated.status_code == 200
    body = updated.json()
    assert body["data"] == {"a": "1", "c": "3"}  # b was only ours: gone
    assert body["metadata"]["labels"] == {"app": "y", "team": "t"}  # merged
    assert body["metadata"]["ownerReferences"] == [owner("d2")]  # replaced
    assert body["metadata"]["uid"] == meta["uid"] and body["metadata"]["generation"] == 2
    assert int(body["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    managers = {m["manager"]: m for m in body["metadata"]["managedFields"]}
    assert set(managers) == {"mirror-agent", "kubectl-label"}
    assert managers["kubectl-label"]["operation"] == "Update"
    assert managers["kubectl-label"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:team": {}}}
    }
    assert managers["mirror-agent"]["fieldsV1"]["f:data"] == {".": {}, "f:a": {}, "f:c": {}}


def test_apply_conflicts_without_force(api: Api) -> None:
    api.post(CM, configmap("c", {"k": "1", "own": "x"}), params={"fieldManager": "kubectl-create"})
    body = status(api.apply(f"{CM}/c", configmap("c", {"k": "2"}), force=False))
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.k'
    )
    assert body["details"]["causes"] == [{
        "reason": "FieldManagerConflict", "message": 'conflict with "kubectl-create" using v1',
        "field": ".data.k",
    }]  # fmt: skip
    same = api.apply(f"{CM}/c", configmap("c", {"k": "1"}), force=False)
    assert same.status_code == 200  # same value: shared ownership, no conflict
    forced = api.apply(f"{CM}/c", configmap("c", {"k": "3"}), force=True).json()
    assert forced["data"] == {"k": "3", "own": "x"}  # the other manager's key stays
    managers = {m["manager"]: m["fieldsV1"] for m in forced["metadata"]["managedFields"]}
    assert managers["kubectl-create"] == {"f:data": {".": {}, "f:own": {}}}  # k was taken


def test_apply_needs_a_field_manager_and_the_right_type(api: Api) -> None:
    body = status(api.apply(f"{CM}/n", configmap("n"), manager=None))
    assert (body["code"], body["reason"]) == (422, "Invalid")  # ValidatePatchOptions
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )
    too_long = status(api.apply(f"{CM}/n", configmap("n"), manager="m" * 129))
    assert too_long["code"] == 422 and "fieldManager: Too long" in too_long["message"]
    wrong = status(api.apply(f"{CM}/n", {**configmap("n"), "apiVersion": "apps/v1"}))
    assert wrong["code"] == 400 and "Incorrect version specified in apply patch" in wrong["message"]
    assert status(api.apply(f"{CM}/n", configmap("other")))["code"] == 400  # name vs URL
    missing_ns = api.apply("/api/v1/namespaces/nope/configmaps/n", configmap("n"))
    assert status(missing_ns)["message"] == 'namespaces "nope" not found'


def test_an_apply_that_would_create_is_denied_as_a_create_without_a_reason(
    server: FakeApiServer, api: Api
) -> None:
    """Before Kubernetes 1.32 (the version this server reports is 1.30) the 403 of an apply
    that creates names no verb: 'configmaps "n" is forbidden: '; a missing namespace is
    reported first (admission runs before that authorization)."""
    server.deny("create", "configmaps", namespace=NS)
    denied = status(api.apply(f"{CM}/n", configmap("n")))
    assert (denied["code"], denied["message"]) == (403, 'configmaps "n" is forbidden: ')
    missing_ns = status(api.apply("/api/v1/namespaces/nope/configmaps/n", configmap("n")))
    assert missing_ns["code"] == 404
    server.put(configmap("n", namespace=NS))
    assert api.apply(f"{CM}/n", configmap("n", {"k": "v"})).status_code == 200  # a patch now


def test_apply_accepts_yaml(api: Api) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n"
    response = api.request(
        "PATCH", f"{CM}/y", params={"fieldManager": "m"}, data=text,
        headers={"Content-Type": "application/apply-patch+yaml"},
    )  # fmt: skip
    assert response.status_code == 201 and response.json()["data"] == {"k": "v"}


# --------------------------------------------------------------------------------------
# fault injection and recording


def test_injected_429_with_retry_after(server: FakeApiServer, api: Api) -> None:
    server.inject(429, count=2, retry_after=3, path_prefix=CM)
    assert api.get("/api/v1/nodes").status_code == 200  # not matching: not consumed
    for _ in range(2):
        response = api.get(CM)
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
        body = status(response)
        assert body["reason"] == "TooManyRequests"
        assert body["details"] == {"retryAfterSeconds": 3}
    assert api.get(CM).status_code == 200


def test_injected_faults_by_method(server: FakeApiServer, api: Api) -> None:
    server.inject(503, method="PATCH")
    assert api.get(CM).status_code == 200
    assert status(api.apply(f"{CM}/a", configmap("a")))["reason"] == "ServiceUnavailable"
    assert api.apply(f"{CM}/a", configmap("a")).status_code == 201
    server.inject(500, message="etcdserver: request timed out")
    assert status(api.get(CM))["message"] == "etcdserver: request timed out"


def test_dropped_connection(server: FakeApiServer, api: Api) -> None:
    server.drop_connections(1, path_prefix=CM)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(CM)
    assert api.get(CM).status_code == 200
    assert [r.path for r in server.requests][-2:] == [CM, CM]


def test_requests_are_recorded(server: FakeApiServer, api: Api) -> None:
    server.clear_requests()
    api.get(CM, params={"limit": 5, "labelSelector": "a in (b,c)"})
    method, path, query, headers = server.requests[-1][:4]
    assert (method, path) == ("GET", CM)
    assert query == {"limit": "5", "labelSelector": "a in (b,c)"}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/json"


# --------------------------------------------------------------------------------------
# seeding, namespaces, concurrency, lifecycle


def test_seed_helpers(server: FakeApiServer, api: Api) -> None:
    taint = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}
    node = server.add_node(
        "worker-0", labels={"node-role.kubernetes.io/worker": ""},
        annotations={"machineconfiguration.openshift.io/state": "Done"}, taints=[taint],
    )  # fmt: skip
    assert node["metadata"]["uid"]
    served = api.get("/api/v1/nodes/worker-0").json()
    assert served["metadata"]["uid"] == node["metadata"]["uid"]
    assert served["metadata"]["labels"]["node-role.kubernetes.io/worker"] == ""
    assert served["spec"]["taints"] == [taint]
    assert served["status"]["conditions"][0]["type"] == "Ready"
    assert [n["metadata"]["name"] for n in server.objects("Node")] == ["worker-0"]
    server.put(configmap("seeded", namespace=NS))
    assert server.get_object("ConfigMap", "seeded", NS)["data"] == {"k": "v"}  # type: ignore[index]
    assert server.get_object("configmaps", "absent", NS) is None
    with pytest.raises(KeyError):
        server.put({"apiVersion": "v9", "kind": "Nope", "metadata": {"name": "x"}})


def test_deleting_a_namespace_removes_its_objects(server: FakeApiServer, api: Api) -> None:
    server.put(configmap("a", namespace=NS))
    server.put(configmap("b", namespace="default"))
    assert api.request("DELETE", f"/api/v1/namespaces/{NS}").status_code == 200
    assert [c["metadata"]["name"] for c in server.objects("ConfigMap")] == ["b"]


def test_concurrent_creates(server: FakeApiServer) -> None:
    errors: list[BaseException] = []

    def create(worker: int) -> None:
        client = Api(server)
        try:
            for index in range(20):
                response = client.post(CM, configmap(f"w{worker}-{index}"))
                assert response.status_code == 201, response.text
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)
        finally:
            client.session.close()

    threads = [threading.Thread(target=create, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    stored = server.objects("ConfigMap", NS)
    assert len(stored) == 160
    assert len({c["metadata"]["resourceVersion"] for c in stored}) == 160


def test_stop_closes_kept_alive_connections(api: Api) -> None:
    assert api.get(CM).status_code == 200  # the session now holds an open connection
    api.server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(CM)


# --------------------------------------------------------------------------------------
# performance, kubectl, the command line


def test_pages_of_500_from_5000_configmaps(server: FakeApiServer, api: Api) -> None:
    # Speed is measured by bench/collect_scale.py, not asserted here.
    seed_configmaps(server, 5000, size=2000)
    pages = 0
    names: list[str] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        page = api.get(CM, params=params).json()
        pages += 1
        names.extend(i["metadata"]["name"] for i in page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break
        params = {"limit": 500, "continue": token}
    assert pages == 10 and len(set(names)) == 5000


def run_kubectl(kubeconfig: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against the fake server (it must be installed: no skipping)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required for the fidelity test (it is not optional)"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


def test_real_kubectl_reads_the_fake(server: FakeApiServer, tmp_path: Path) -> None:
    server.put(configmap("mirror-agent-report-worker-0", {"report.json": "{}"}, namespace=NS))
    server.add_node("worker-0")
    server.add_node("worker-1")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {
                "server": server.url, "certificate-authority": server.ca_file}}],
            "users": [{"name": "fake", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }),
        encoding="utf-8",
    )  # fmt: skip
    cache = tmp_path / "cache"
    listed = run_kubectl(kubeconfig, cache, "get", "configmaps", "-n", NS, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["mirror-agent-report-worker-0"]
    assert items[0]["data"] == {"report.json": "{}"} and items[0]["kind"] == "ConfigMap"
    nodes = run_kubectl(kubeconfig, cache, "get", "nodes", "-o", "name")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.split() == ["node/worker-0", "node/worker-1"]
    paths = {(r.path, r.query.get("limit")) for r in server.requests}
    assert {("/api", None), ("/apis", None), ("/api/v1", None)} <= paths
    assert {(CM, "500"), ("/api/v1/nodes", "500")} <= paths
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.requests)


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_apiserver", "--port", "0", "--token", "cli",
         "--nodes", "3"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = dict(line.split(":", 1) for line in (process.stdout.readline() for _ in range(3)))
        url, ca, token = (lines[k].strip() for k in ("URL", "CA", "Token"))
        assert token == "cli" and url.startswith("https://127.0.0.1:")
        response = requests.get(
            f"{url}/api/v1/nodes", headers={"Authorization": "Bearer cli"}, verify=ca, timeout=10
        )
        assert [n["metadata"]["name"] for n in response.json()["items"]] == [
            "node-0", "node-1", "node-2",
        ]  # fmt: skip
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- issued tokens, client certificates, impersonation --------------------------------------


def test_issued_tokens_expire_on_the_server_clock_and_can_be_revoked(
    server: FakeApiServer, api: Api
) -> None:
    server.issue_token("short", "alice", ["devs"], expires_at=server.now() + 60)
    server.issue_token("long", "alice")
    server.deny("list", "configmaps", user="alice")
    answer = api.get(CM, token="short")
    assert answer.status_code == 403 and 'User \\"alice\\" cannot list' in answer.text
    assert api.get("/api/v1/nodes", token="short").status_code == 200
    server.advance_clock(61)
    assert api.get("/api/v1/nodes", token="short").status_code == 401
    assert api.get("/api/v1/nodes", token="long").status_code == 200
    server.revoke_token("long")
    assert api.get("/api/v1/nodes", token="long").status_code == 401
    assert api.get(CM).status_code == 200  # the primary token's user is not alice


def test_client_certificate_is_the_user_it_names(
    server: FakeApiServer, api: Api, tmp_path: Path
) -> None:
    from tests.support.fake_apiserver.certs import issue_client_cert, shared_certs

    cert, key = issue_client_cert(shared_certs(), tmp_path, "carol", ["ops", "auditors"])
    server.deny("list", "configmaps", user="carol")
    answer = api.get(CM, token=None, cert=(str(cert), str(key)))
    assert answer.status_code == 403 and 'User \\"carol\\"' in answer.text
    assert api.get("/api/v1/nodes", token=None, cert=(str(cert), str(key))).status_code == 200
    assert server.requests[-1].peer_cert is not None
    assert api.get("/api/v1/nodes", token=None).status_code == 401  # anonymous
    # a wrong token is refused even with a good certificate, as the API server does
    assert api.get("/api/v1/nodes", token="nope", cert=(str(cert), str(key))).status_code == 401


def test_impersonation_needs_the_impersonate_verb_for_each_part(
    server: FakeApiServer, api: Api
) -> None:
    headers = {"Impersonate-User": "bob", "Impersonate-Uid": "7"}
    answer = api.get(CM, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["message"] == (
        f'users "bob" is forbidden: User "{USER}" cannot impersonate resource "users" '
        'in API group "" at the cluster scope'
    )
    server.allow_impersonation(USER, "users", "bob")
    answer = api.get(CM, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["message"].startswith('uids.authentication.k8s.io "7" is forbidden')
    assert answer.json()["details"] == {
        "name": "7", "group": "authentication.k8s.io", "kind": "uids"
    }  # fmt: skip
    server.allow_impersonation(USER, "uids")
    assert api.get(CM, headers=headers).status_code == 200
    server.deny("list", "configmaps", user="bob")  # now the request is bob's
    assert 'User \\"bob\\" cannot list' in api.get(CM, headers=headers).text
    orphan = api.get(CM, headers={"Impersonate-Group": "devs"})
    assert orphan.status_code == 500 and "without impersonating a user" in orphan.text
