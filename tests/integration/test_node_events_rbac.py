"""The Node events' RBAC as `kubectl kustomize daemonset/` renders it, enforced by the fake
API server: the agent may record an Event in "default" (where a Node's events live) and in
no other namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from agent.kube.client import Forbidden, KubeClient
from agent.kube.config import ClusterConfig
from agent.kube.events import EVENTS_NAMESPACE, events_path, node_event
from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer

NODE = "worker-1"


def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl must be installed (scripts/setup.sh does it)"
    built = subprocess.run(
        [kubectl, "kustomize", str(PROJECT_ROOT / "daemonset")], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        for namespace in ("mirror-agent", "mirror-agent-reports", EVENTS_NAMESPACE, "kube-system"):
            fake.add_namespace(namespace)
        fake.add_node(NODE)
        fake.use_rbac(rendered())
        yield fake


def post_event(server: FakeApiServer, namespace: str) -> dict[str, Any]:
    config = ClusterConfig(server=server.url, verify=server.ca_file, token=server.token)
    client = KubeClient(config, sleep=lambda seconds: None, retries=0)
    event = node_event(
        NODE, reason="MirrorCheckFailed", type_="Warning", message="m",
        now="2030-01-01T00:00:00Z", name=f"{NODE}.mirror-check",
    )  # fmt: skip
    if namespace != EVENTS_NAMESPACE:  # a valid event there: about a Pod of that namespace
        event["metadata"]["namespace"] = namespace
        event["involvedObject"] = {"apiVersion": "v1", "kind": "Pod", "name": "p",
                                   "namespace": namespace}  # fmt: skip
    return client.request(
        "POST",
        events_path(namespace),
        body=json.dumps(event).encode(),
        content_type="application/json",
    )


def test_the_events_binding_is_a_role_binding_in_default() -> None:
    docs = rendered()
    bindings = [
        d
        for d in docs
        if d["kind"].endswith("Binding") and d["roleRef"]["name"] == "mirror-agent-node-events"
    ]
    assert [(b["kind"], b["metadata"]["namespace"]) for b in bindings] == [
        ("RoleBinding", EVENTS_NAMESPACE)
    ]
    # everything else still goes to the agent's namespace, but the reports' Role and
    # RoleBinding, which stay in theirs
    others = {d["metadata"].get("namespace") for d in docs if d not in bindings}
    assert others == {"mirror-agent", "mirror-agent-reports", None}  # None: cluster-scoped


def test_the_agent_records_events_in_default_only(server: FakeApiServer) -> None:
    assert post_event(server, EVENTS_NAMESPACE)["metadata"]["namespace"] == EVENTS_NAMESPACE
    for namespace in ("kube-system", "mirror-agent"):
        with pytest.raises(Forbidden):
            post_event(server, namespace)
