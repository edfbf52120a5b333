"""The reports namespace and the RBAC around it, as `kubectl kustomize` renders daemonset/
with the monitoring component, enforced by the fake API server's RBAC authorizer.

The agent's token may create and patch ConfigMaps in mirror-agent-reports (its report)
and do nothing else with ConfigMaps: the checks ConfigMap in mirror-agent, which every
node checks, is out of its reach by RBAC alone (no admission policy here). The exporter's
token reads what `agent collect --serve-metrics` needs and writes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml

from agent.cli.app import main
from agent.kube.client import Forbidden, KubeClient, configmap_path
from agent.kube.config import ClusterConfig
from agent.kube.contract import CHECKS_CONFIGMAP, RECHECK_KEY, REPORT_SELECTOR, configmap_name
from agent.kube.publish import publish, report_configmap
from agent.report import CheckReport, timestamp
from tests.support.data import DATA, PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer
from tests.support.monitoring import build_with_monitoring

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"
EXPORTER = "system:serviceaccount:mirror-agent:mirror-agent-exporter"
EXPORTER_TOKEN = "exporter-token"
NODE = "worker-0"
OTHER_NODE = "worker-1"
#: daemonset/rbac.yaml of the release that kept the reports in mirror-agent.
EARLIER_RBAC = DATA / "upgrade" / "rbac-before-reports-namespace.yaml"
RECHECK = '{"all": {"id": "abc123", "requestedAt": "2030-01-01T00:00:00Z"}}\n'


@pytest.fixture
def documents(tmp_path: Path) -> list[dict[str, Any]]:
    """daemonset/ with the monitoring component, as an overlay of one's own builds it."""
    return build_with_monitoring(tmp_path)


@pytest.fixture
def server(documents: list[dict[str, Any]]) -> Iterator[FakeApiServer]:
    """The rendered Namespaces, checks ConfigMap and DaemonSet stored, their RBAC enforced;
    the server's own token is the agent's service account."""
    with FakeApiServer() as fake:
        for namespace in ("default", "kube-system"):
            fake.add_namespace(namespace)
        for doc in documents:
            if doc["kind"] == "Namespace":
                fake.add_namespace(doc["metadata"]["name"], doc["metadata"].get("labels"))
        checks = next(d for d in documents if d["kind"] == "ConfigMap")
        checks["data"][RECHECK_KEY] = RECHECK
        fake.put(checks)
        fake.put(next(d for d in documents if d["kind"] == "DaemonSet"))
        for node in (NODE, OTHER_NODE):
            fake.add_node(node)
        fake.use_rbac(documents)
        fake.issue_token(EXPORTER_TOKEN, EXPORTER)
        yield fake


def test_the_rendered_manifests_put_the_reports_in_their_own_namespace(
    documents: list[dict[str, Any]],
) -> None:
    namespaces = {d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"}
    assert namespaces == {NS, REPORTS_NS}
    (checks,) = [d for d in documents if d["kind"] == "ConfigMap"]
    assert (checks["metadata"]["name"], checks["metadata"]["namespace"]) == (CHECKS_CONFIGMAP, NS)


def client_for(server: FakeApiServer, token: str) -> KubeClient:
    config = ClusterConfig(server=server.url, verify=server.ca_file, token=token)
    return KubeClient(config, sleep=lambda seconds: None, retries=0)


def report(node: str) -> CheckReport:
    return CheckReport(node=node, checked_at=timestamp(), verdict="pass", fingerprint="sha256:x")


def kubeconfig_with(server: FakeApiServer, path: Path, token: str) -> Path:
    server.write_kubeconfig(path, namespace=NS)
    config = yaml.safe_load(path.read_text())
    config["users"][0]["user"]["token"] = token
    path.write_text(yaml.safe_dump(config))
    return path


def test_agent_run_publishes_into_the_reports_namespace_under_the_shipped_rbac(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """`agent run` as the agent's service account, its namespace mirror-agent (from the
    kubeconfig here, the pod's service account in the DaemonSet): the report lands in
    mirror-agent-reports; nothing is written in mirror-agent."""
    kubeconfig = kubeconfig_with(server, tmp_path / "kubeconfig", server.token)
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text("")
    argv = [sys.executable, "-m", "agent", "run", "--kubeconfig", str(kubeconfig)]
    argv += ["--host-root", str(root), "--image", "x.example.com/a@sha256:" + "b" * 64]
    argv += ["--jitter", "0s", "--poll", "1s", "--cycles", "1", "--log-format", "json"]
    done = subprocess.run(
        argv,
        env={**os.environ, "NODE_NAME": NODE, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    stored = server.get_object("ConfigMap", configmap_name(NODE), REPORTS_NS)
    assert stored is not None, done.stdout
    assert json.loads(stored["data"]["report.json"])["node"] == NODE
    assert server.get_object("ConfigMap", configmap_name(NODE), NS) is None


def test_the_agent_creates_and_patches_its_report_in_the_reports_namespace(
    server: FakeApiServer,
) -> None:
    client = client_for(server, server.token)
    first = report_configmap(report(NODE), namespace=REPORTS_NS, node=None)
    body = json.dumps(first).encode()
    created = client.request(  # a plain create (POST)
        "POST", configmap_path(REPORTS_NS), body=body, content_type="application/json"
    )
    assert created["metadata"]["namespace"] == REPORTS_NS
    again = report_configmap(report(NODE), namespace=REPORTS_NS, node=None)
    publish(client, again)  # server-side apply of the existing report: a patch
    # and the apply that creates (another node's first report: create through patch)
    publish(client, report_configmap(report(OTHER_NODE), namespace=REPORTS_NS, node=None))
    for node in (NODE, OTHER_NODE):
        assert server.get_object("ConfigMap", configmap_name(node), REPORTS_NS) is not None


def _configmap(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"images.txt": "evil.example.com/x@sha256:" + "e" * 64 + "\n"},
    }


def _attempts(client: KubeClient, namespace: str, name: str) -> dict[str, Callable[[], Any]]:
    """Every verb on the ConfigMap ``namespace/name``, each one request."""
    body = json.dumps(_configmap(namespace, name)).encode()
    path = configmap_path(namespace, name)
    return {
        "create": lambda: client.request(
            "POST", configmap_path(namespace), body=body, content_type="application/json"
        ),
        "apply": lambda: client.apply(path, _configmap(namespace, name), field_manager="x"),
        "merge-patch": lambda: client.request(
            "PATCH", path, body=b'{"data": {"a": "b"}}', content_type="application/merge-patch+json"
        ),
        "update": lambda: client.request("PUT", path, body=body, content_type="application/json"),
        "delete": lambda: client.request("DELETE", path),
        "get": lambda: client.get(path),
    }


@pytest.mark.parametrize("verb", ["create", "apply", "merge-patch", "update", "delete", "get"])
@pytest.mark.parametrize("name", [CHECKS_CONFIGMAP, configmap_name(NODE), "anything"])
def test_the_agent_has_no_right_on_configmaps_of_its_own_namespace(
    server: FakeApiServer, verb: str, name: str
) -> None:
    """The checks ConfigMap (what every node checks), a report-named ConfigMap and any
    other: refused (403) whatever the verb, and the checks are left as they were."""
    before = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
    client = client_for(server, server.token)
    with pytest.raises(Forbidden) as refused:
        _attempts(client, NS, name)[verb]()
    assert refused.value.status == 403
    after = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
    assert after is not None and before is not None
    assert after["data"] == before["data"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert server.get_object("ConfigMap", "anything", NS) is None


@pytest.mark.parametrize("verb", ["update", "delete", "get"])
def test_in_the_reports_namespace_the_agent_only_creates_and_patches(
    server: FakeApiServer, verb: str
) -> None:
    client = client_for(server, server.token)
    publish(client, report_configmap(report(NODE), namespace=REPORTS_NS, node=None))
    with pytest.raises(Forbidden):
        _attempts(client, REPORTS_NS, configmap_name(NODE))[verb]()


@pytest.mark.parametrize(
    "path", [configmap_path(NS), configmap_path(REPORTS_NS), "/api/v1/configmaps"]
)
def test_the_agent_lists_nothing(server: FakeApiServer, path: str) -> None:
    client = client_for(server, server.token)
    with pytest.raises(Forbidden):
        next(iter(client.list(path)))
    with pytest.raises(Forbidden):
        next(iter(client.list("/api/v1/nodes")))


def test_the_exporter_reads_what_collect_needs(
    server: FakeApiServer, tmp_path: Path, capsys: Any
) -> None:
    """`agent collect` (the exporter's read) with the exporter's token: the reports from
    mirror-agent-reports, the DaemonSet and agent recheck's requests from mirror-agent, the
    Nodes; no warning of anything it could not read."""
    agent = client_for(server, server.token)
    publish(agent, report_configmap(report(NODE), namespace=REPORTS_NS, node=None))
    kubeconfig = kubeconfig_with(server, tmp_path / "kubeconfig", EXPORTER_TOKEN)
    server.clear_requests()
    code = main(["collect", "--kubeconfig", str(kubeconfig), "-o", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1  # worker-1 is missing
    assert document["expectedFrom"] == "daemonset" and not document.get("warnings")
    statuses = {row["node"]: row["status"] for row in document["nodes"]}
    assert statuses == {NODE: "reported", OTHER_NODE: "missing"}
    assert [request["id"] for request in document["recheck"]] == ["abc123"]
    listed = [
        (r.path, r.query["labelSelector"])
        for r in server.requests
        if r.method == "GET" and "labelSelector" in r.query
    ]
    assert listed == [(configmap_path(REPORTS_NS), REPORT_SELECTOR)]


def test_the_exporter_writes_nothing_and_reads_no_other_configmap(server: FakeApiServer) -> None:
    client = client_for(server, EXPORTER_TOKEN)
    for namespace, name in ((NS, CHECKS_CONFIGMAP), (REPORTS_NS, configmap_name(NODE))):
        for verb in ("create", "apply", "update", "delete"):
            with pytest.raises(Forbidden):
                _attempts(client, namespace, name)[verb]()
    server.put(_configmap(NS, "other"))
    with pytest.raises(Forbidden):
        client.get(configmap_path(NS, "other"))
    with pytest.raises(Forbidden):
        next(iter(client.list(configmap_path(NS))))
    assert client.get(configmap_path(NS, CHECKS_CONFIGMAP))["data"][RECHECK_KEY] == RECHECK


def applied_over(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects a cluster holds after `oc apply` of ``after`` over ``before``: each object
    of ``after`` replaces the one of the same kind, namespace and name; nothing of
    ``before`` is deleted (the objects ``after`` no longer holds stay as they were)."""
    held: dict[tuple[str, Optional[str], str], dict[str, Any]] = {}
    for doc in [*before, *after]:
        held[(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"])] = doc
    return list(held.values())


@pytest.mark.parametrize("verb", ["create", "apply", "merge-patch", "update", "delete"])
def test_upgrading_with_oc_apply_takes_back_the_earlier_right_on_the_checks(
    server: FakeApiServer, documents: list[dict[str, Any]], verb: str
) -> None:
    """The earlier release's Role mirror-agent-reports in mirror-agent let the agent create
    and patch every ConfigMap there, the checks included. `oc apply -k daemonset/` over it
    deletes nothing, but applies that Role again with no rule: the old RoleBinding, left in
    place, then grants nothing, and the agent's token is refused the checks."""
    earlier = [doc for doc in yaml.safe_load_all(EARLIER_RBAC.read_text()) if doc]
    client = client_for(server, server.token)
    server.use_rbac(earlier)
    checks_before = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
    assert checks_before is not None
    _attempts(client, NS, CHECKS_CONFIGMAP)["apply"]()  # the hole the upgrade must close
    server.put(checks_before)

    upgraded = applied_over(earlier, documents)
    kept = [
        d for d in upgraded if (d["kind"], d["metadata"].get("namespace")) == ("RoleBinding", NS)
    ]
    assert "mirror-agent-reports" in {d["metadata"]["name"] for d in kept}  # never deleted
    server.use_rbac(upgraded)
    with pytest.raises(Forbidden) as refused:
        _attempts(client, NS, CHECKS_CONFIGMAP)[verb]()
    assert refused.value.status == 403
    after = server.get_object("ConfigMap", CHECKS_CONFIGMAP, NS)
    assert after is not None and after["data"] == checks_before["data"]
    # and the agent still publishes its report where it now lives
    publish(client, report_configmap(report(NODE), namespace=REPORTS_NS, node=None))
    assert server.get_object("ConfigMap", configmap_name(NODE), REPORTS_NS) is not None


def test_collect_warns_when_the_reports_are_still_where_earlier_agents_put_them(
    server: FakeApiServer, tmp_path: Path, capsys: Any
) -> None:
    """Mid-upgrade: the earlier agents' reports sit in mirror-agent, none yet in
    mirror-agent-reports. The table and the JSON say where collect looked, and why it may
    be empty, instead of only listing every node as missing."""
    for node in (NODE, OTHER_NODE):
        server.put(report_configmap(report(node), namespace=NS, node=None))
    kubeconfig = kubeconfig_with(server, tmp_path / "kubeconfig", EXPORTER_TOKEN)
    assert main(["collect", "--kubeconfig", str(kubeconfig)]) == 1
    table = capsys.readouterr().out
    warning = (
        f"warning: no node report in namespace {REPORTS_NS}: agents older than the reports "
        f"namespace publish in {NS}; see docs/deploying.md (Upgrade)"
    )
    assert warning in table.splitlines()
    assert main(["collect", "--kubeconfig", str(kubeconfig), "-o", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["warnings"] == [warning.removeprefix("warning: ")]
    assert document["summary"]["missing"] == 2
