"""The Kubernetes client, agent run and agent collect against the fake API server."""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from agent.cli.app import main
from agent.commands.daemon import Agent, Publisher, RunSettings
from agent.kube.client import (
    ApiError,
    Forbidden,
    Invalid,
    KubeClient,
    NotFound,
    Unreachable,
    configmap_path,
)
from agent.kube.config import ClusterConfig, KubeConfigError, from_kubeconfig, in_cluster
from agent.kube.contract import REPORT_SELECTOR
from agent.kube.publish import NodeReportPublisher, report_configmap
from agent.report import CheckReport, ImageResult, timestamp
from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer
from tests.support.fake_apiserver.certs import shared_certs
from tests.unit.commands.fakes import LOGS, SRC, FakeRunner, result

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where agent run publishes, collect reads (NS + -reports)


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(token="first-token") as fake:
        fake.add_namespace(NS)
        fake.add_namespace(REPORTS_NS)
        yield fake


def client_for(server: FakeApiServer, **kwargs: Any) -> KubeClient:
    config = ClusterConfig(server=server.url, verify=server.ca_file, token=server.token)
    kwargs.setdefault("sleep", lambda seconds: None)
    return KubeClient(config, **kwargs)


def seed_report(server: FakeApiServer, node: str, **fields: Any) -> None:
    report = CheckReport(
        node=node,
        checked_at=fields.get("checked_at", timestamp()),  # now: fresh, never in the future
        verdict=fields.get("verdict", "pass"),
        fingerprint=fields.get("fingerprint", "sha256:same"),
        images=(
            ImageResult(
                image="q.io/a@sha256:" + "a" * 64,
                verdict=fields.get("verdict", "pass"),
                served_by="m.example.net/a",
                served_by_kind="mirror",
            ),
        ),
        extra={"machineConfig": {"currentConfig": fields.get("config", "rendered-worker-1")}},
    )
    server.put(report_configmap(report, namespace=REPORTS_NS, node=None))


# --- configuration ------------------------------------------------------------------------


def test_in_cluster_configuration_and_token_rotation(server: FakeApiServer, tmp_path: Path) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(server.token)
    (account / "ca.crt").write_text(Path(server.ca_file).read_text())
    (account / "namespace").write_text(NS)
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    config = in_cluster(env, account)
    assert (config.namespace, config.token_file) == (NS, str(account / "token"))
    client = KubeClient(config, sleep=lambda s: None)
    assert client.get(f"/api/v1/namespaces/{NS}")["metadata"]["name"] == NS
    # Tokens rotate: the file changes, the old token stops working.
    server.rotate_token("second-token")
    (account / "token").write_text("second-token")
    assert client.get(f"/api/v1/namespaces/{NS}")["metadata"]["name"] == NS
    unauthorized = [r for r in server.requests if r.path == f"/api/v1/namespaces/{NS}"]
    assert len(unauthorized) == 2  # re-read on change, before any 401


def test_token_reread_once_after_401(server: FakeApiServer, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(server.token)
    config = ClusterConfig(server=server.url, verify=server.ca_file, token_file=str(token))
    client = KubeClient(config, sleep=lambda s: None)
    client.get("/api/v1/nodes")
    mtime = token.stat().st_mtime_ns
    server.rotate_token("rotated")
    token.write_text("rotated")
    os.utime(token, ns=(mtime, mtime))  # same mtime: only the 401 reveals the rotation
    assert client.get("/api/v1/nodes")["kind"] == "NodeList"
    server.rotate_token("again")
    with pytest.raises(ApiError) as caught:
        client.get("/api/v1/nodes")
    assert caught.value.status == 401


def test_not_in_a_pod() -> None:
    with pytest.raises(KubeConfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster({}, Path("/nonexistent"))


def test_kubeconfig_merges_files_and_resolves_relative_paths(
    server: FakeApiServer, tmp_path: Path
) -> None:
    first, second = tmp_path / "a" / "config", tmp_path / "b" / "config"
    first.parent.mkdir()
    second.parent.mkdir()
    (second.parent / "ca.crt").write_text(Path(server.ca_file).read_text())
    first.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "lab",
                "contexts": [
                    {"name": "lab", "context": {"cluster": "c", "user": "u", "namespace": NS}}
                ],
            }
        )
    )
    second.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ignored",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": server.url, "certificate-authority": "ca.crt"},
                    }
                ],
                "users": [{"name": "u", "user": {"token": server.token}}],
                "contexts": [{"name": "lab", "context": {"cluster": "other", "user": "other"}}],
            }
        )
    )
    config = from_kubeconfig(env={"KUBECONFIG": f"{first}:{second}"})
    assert config.verify == str(second.parent / "ca.crt")
    assert config.namespace == NS
    assert KubeClient(config).get("/api/v1/nodes")["kind"] == "NodeList"


def test_kubeconfig_ca_data_and_insecure(server: FakeApiServer, tmp_path: Path) -> None:
    data = base64.b64encode(Path(server.ca_file).read_bytes()).decode()
    path = tmp_path / "config"
    for cluster in ({"certificate-authority-data": data}, {"insecure-skip-tls-verify": True}):
        path.write_text(
            yaml.safe_dump(
                {
                    "current-context": "x",
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "clusters": [{"name": "c", "cluster": {"server": server.url, **cluster}}],
                    "users": [{"name": "u", "user": {"token": server.token}}],
                }
            )
        )
        assert KubeClient(from_kubeconfig(str(path))).get("/api/v1/nodes")["kind"] == "NodeList"


def test_kubeconfig_client_certificate_paths(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": "admin",
                "contexts": [{"name": "admin", "context": {"cluster": "c", "user": "admin"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://api.example:6443"}}],
                "users": [
                    {
                        "name": "admin",
                        "user": {
                            "client-certificate": "tls.crt",
                            "client-key-data": base64.b64encode(b"k").decode(),
                        },
                    }
                ],
            }
        )
    )
    config = from_kubeconfig(str(path))
    assert config.client_cert is not None
    assert config.client_cert[0] == str(tmp_path / "tls.crt")
    assert Path(config.client_cert[1]).read_bytes() == b"k"


def test_kubeconfig_key_data_never_lands_on_disk(tmp_path: Path) -> None:
    """A kubeconfig's client key (often cluster-admin's) is handed to TLS without a file
    that could outlive the process (it used to be left in /tmp at every run)."""
    certs = shared_certs()
    path = tmp_path / "kubeconfig"
    user = {
        "client-certificate-data": base64.b64encode(certs.cert_file.read_bytes()).decode(),
        "client-key-data": base64.b64encode(certs.key_file.read_bytes()).decode(),
    }
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": "admin",
                "contexts": [{"name": "admin", "context": {"cluster": "c", "user": "admin"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://api.example:6443"}}],
                "users": [{"name": "admin", "user": user}],
            }
        )
    )
    before = set(Path(tempfile.gettempdir()).glob("mirror-agent-*"))
    config = from_kubeconfig(str(path))
    assert config.client_cert is not None
    cert, key = config.client_cert
    assert key.startswith("/proc/self/fd/") and cert.startswith("/proc/self/fd/")  # memfd
    assert Path(key).read_bytes() == certs.key_file.read_bytes()
    ssl.create_default_context().load_cert_chain(cert, key)  # usable by TLS as it is
    assert set(Path(tempfile.gettempdir()).glob("mirror-agent-*")) == before


def test_unsupported_kubeconfig_suggests_from_file(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://a:6443"}}],
                "users": [{"name": "u", "user": {"auth-provider": {"name": "gcp"}}}],
            }
        )
    )
    with pytest.raises(KubeConfigError) as caught:
        from_kubeconfig(str(path))
    assert "auth-provider" in caught.value.message
    assert "agent collect --from-file -" in str(caught.value.hint)


# --- errors and retries -----------------------------------------------------------------


def test_typed_errors_from_status_bodies(server: FakeApiServer) -> None:
    client = client_for(server)
    with pytest.raises(NotFound) as missing:
        client.get(configmap_path(NS, "nope"))
    assert missing.value.reason == "NotFound" and "nope" in missing.value.api_message
    server.deny("list", "configmaps", NS)
    with pytest.raises(Forbidden) as forbidden:
        client.get(configmap_path(NS))
    assert "cannot list resource" in forbidden.value.api_message
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": NS},
        "data": {"x": "a" * (1024 * 1024 + 1)},
    }
    with pytest.raises(Invalid) as invalid:
        client.apply(configmap_path(NS, "big"), big, field_manager="t")
    assert "Too long" in invalid.value.api_message


def test_apply_sends_characters_beyond_the_bmp_as_utf8(server: FakeApiServer) -> None:
    """The API server reads an apply body as YAML, whose decoder refuses JSON's surrogate
    escapes (\\ud83d\\ude00): an administrator's emoji in a checks file must not break it."""
    client = client_for(server)
    text = "quay.io/team/app@sha256:" + "a" * 64 + "  # ok \U0001f600\n"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    stored = client.apply(
        configmap_path(NS, "c"), {**body, "data": {"checklist.txt": text}}, field_manager="x"
    )
    assert stored["data"]["checklist.txt"] == text
    escaped = json.dumps({**body, "data": {"k": "\U0001f600"}}).encode()  # ensure_ascii
    with pytest.raises(ApiError, match="invalid Unicode character escape"):
        client.request(
            "PATCH",
            configmap_path(NS, "c"),
            params={"fieldManager": "x"},
            body=escaped,
            content_type="application/apply-patch+yaml",
        )


def test_retries_5xx_429_and_dropped_connections(server: FakeApiServer) -> None:
    slept: list[float] = []
    client = client_for(server, sleep=slept.append)
    server.inject(503, count=2)
    server.inject(429, count=1, retry_after=7)
    server.drop_connections(1)
    assert client.get("/api/v1/nodes")["kind"] == "NodeList"
    assert 7.0 in slept and len(slept) == 4
    server.inject(400, count=1)
    with pytest.raises(ApiError) as caught:
        client.get("/api/v1/nodes")
    assert caught.value.status == 400 and len(slept) == 4  # 4xx: no retry


def test_gives_up_after_retries(server: FakeApiServer) -> None:
    client = client_for(server, retries=2)
    server.drop_connections(5)
    with pytest.raises(Unreachable, match="cannot reach the Kubernetes API"):
        client.get("/api/v1/nodes")
    server.inject(503, count=5)
    with pytest.raises(ApiError) as caught:
        client.get("/api/v1/nodes")
    assert caught.value.status == 503


def test_list_pages_and_restarts_after_expired_continue(server: FakeApiServer) -> None:
    for number in range(1200):
        server.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"cm-{number:04d}",
                    "namespace": NS,
                    "labels": {
                        "app.kubernetes.io/name": "mirror-agent",
                        "app.kubernetes.io/component": "report",
                    },
                },
            }
        )
    client = client_for(server)
    items = client.list(configmap_path(NS), label_selector=REPORT_SELECTOR, limit=500)
    first = [next(items)["metadata"]["name"] for _ in range(600)]
    server.expire_continue_tokens()
    rest = [item["metadata"]["name"] for item in items]
    names = first + rest
    assert len(names) == 1200 and len(set(names)) == 1200
    gone = [r for r in server.requests if r.query.get("continue")]
    assert gone, "the list used continue tokens"


def test_a_sized_list_measures_its_own_pages_while_another_list_runs(
    server: FakeApiServer,
) -> None:
    """Pages sized by bytes: each next page is sized from that list's own answers, even
    when the caller, between two items, reads another list on the same client."""
    for number in range(45):
        server.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"small-{number:02d}", "namespace": NS},
                "data": {"k": "x" * 100},
            }
        )
    for number in range(6):
        server.add_node(f"node-{number}", annotations={"big": "y" * 200_000})
    client = client_for(server)
    small = client.list(configmap_path(NS), limit=20, page_bytes=1024**2)
    names = []
    for item in small:
        names.append(item["metadata"]["name"])
        if len(names) == 1:
            assert len(list(client.list("/api/v1/nodes"))) == 6  # a large answer between
    assert len(names) == 45
    limits = [
        int(r.query["limit"])
        for r in server.requests
        if r.path == f"/api/v1/namespaces/{NS}/configmaps"
    ]
    # the second page is sized from the ConfigMaps' page (a few hundred bytes each),
    # not from the nodes' answer (1.2 MB: 20 of those would not fit 1 MiB)
    assert limits[0] == 20 and len(limits) == 2 and limits[1] >= 25, limits


# --- publishing and agent run -------------------------------------------------------------


def run_agent(tmp_path: Path, server: FakeApiServer, **settings: Any) -> Agent:
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True, exist_ok=True)
    (root / "etc/containers/registries.conf").write_text(
        (LOGS / "registries" / "first-mirror-down.conf").read_text()
    )
    from agent import registries

    send = NodeReportPublisher(client_for(server), namespace=REPORTS_NS, node_name="worker-0")
    defaults: dict[str, Any] = {"images": (SRC,), "jitter": 0.0, "poll": 0.01}
    defaults.update(settings)
    return Agent(
        RunSettings(node="worker-0", reports_namespace=REPORTS_NS, host_root=root, **defaults),
        runner=FakeRunner({SRC: result((LOGS / "first-mirror-down.log").read_text())}),
        load=lambda compat: registries.load(root, compat=compat),
        publisher=Publisher(send, clock=time.monotonic),
        sleep=lambda s: None,
        out=open(os.devnull, "w"),
    )


def test_one_cycle_publishes_the_report_configmap(server: FakeApiServer, tmp_path: Path) -> None:
    node = server.add_node(
        "worker-0",
        annotations={
            "machineconfiguration.openshift.io/currentConfig": "rendered-worker-1",
            "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-1",
            "machineconfiguration.openshift.io/state": "Done",
        },
    )
    agent = run_agent(tmp_path, server)
    agent.step()
    stored = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
    assert stored is not None
    meta = stored["metadata"]
    assert meta["labels"]["mirror-agent.io/verdict"] == "warn"
    assert meta["annotations"]["mirror-agent.io/node"] == "worker-0"
    assert meta["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    assert "blockOwnerDeletion" not in meta["ownerReferences"][0]
    assert any(entry["manager"] == "mirror-agent" for entry in meta["managedFields"])
    document = json.loads(stored["data"]["report.json"])
    assert document["machineConfig"] == {
        "currentConfig": "rendered-worker-1",
        "desiredConfig": "rendered-worker-1",
        "state": "Done",
    }
    assert document["images"][0]["servedByKind"] == "mirror"
    applies = [r for r in server.requests if r.method == "PATCH"]
    assert applies[-1].query["fieldManager"] == "mirror-agent"
    assert applies[-1].headers["content-type"] == "application/apply-patch+yaml"


def test_a_failed_node_read_keeps_the_owner_and_machine_config_state(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """Server-side apply drops what a manager stops sending: a report published while
    the Node could not be read must not lose the owner (it would outlive its node) or the
    Machine Config state (collect could not tell it stale after a rollout)."""
    node = server.add_node(
        "worker-0", annotations={"machineconfiguration.openshift.io/currentConfig": "rendered-1"}
    )
    agent = run_agent(tmp_path, server, interval=0.0)
    agent.step()
    server.inject(500, count=20, path_prefix="/api/v1/nodes", method="GET")
    agent.step()  # due again (interval 0): the Node read fails, the report is published
    assert len([r for r in server.requests if r.method == "PATCH"]) == 2
    assert agent.publisher.pending is None  # both reports were published
    stored = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
    assert stored is not None
    assert stored["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    document = json.loads(stored["data"]["report.json"])
    assert document["machineConfig"]["currentConfig"] == "rendered-1"


def test_a_retried_report_keeps_the_machine_config_state_of_its_check(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """A report held back by an API outage while the node rolled out must not be stamped
    with the new configuration: collect would take a check of the old one as current."""
    annotation = "machineconfiguration.openshift.io/currentConfig"
    server.add_node("worker-0", annotations={annotation: "rendered-1"})
    send = NodeReportPublisher(client_for(server), namespace=REPORTS_NS, node_name="worker-0")
    report = CheckReport(node="worker-0", checked_at="2026-11-25T10:00:00Z", verdict="pass")
    server.inject(503, count=20, method="PATCH")
    with pytest.raises(ApiError):
        send(report)
    server.add_node("worker-0", annotations={annotation: "rendered-2"})  # the rollout
    server.clear_faults()
    send(report)  # the publisher's retry of the same report
    stored = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
    assert stored is not None
    assert json.loads(stored["data"]["report.json"])["machineConfig"]["currentConfig"] == (
        "rendered-1"
    )


def test_fingerprint_change_republishes(server: FakeApiServer, tmp_path: Path) -> None:
    server.add_node("worker-0")
    agent = run_agent(tmp_path, server)
    agent.step()
    version = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
    conf = tmp_path / "host/etc/containers/registries.conf"
    conf.write_text(conf.read_text().replace("5109", "5119"))
    stat = conf.stat()
    os.utime(conf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert agent.step() is not None
    again = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
    assert version and again
    assert again["metadata"]["resourceVersion"] != version["metadata"]["resourceVersion"]
    first = json.loads(version["data"]["report.json"])["registriesConf"]["fingerprint"]
    second = json.loads(again["data"]["report.json"])["registriesConf"]["fingerprint"]
    assert first != second


def test_api_outage_then_recovery(server: FakeApiServer, tmp_path: Path) -> None:
    server.add_node("worker-0")
    agent = run_agent(tmp_path, server)
    server.inject(503, count=100)
    agent.step()
    assert agent.publisher.pending is not None
    assert server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS) is None
    server.clear_faults()
    agent.publisher.next_try = 0.0  # the backoff has passed
    agent.step()
    assert agent.publisher.pending is None
    assert server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS) is not None


def test_agent_run_with_cycles_retries_a_refused_publish_before_it_exits(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """A one-shot run (--cycles 1) whose first apply is refused (RBAC not yet propagated)
    publishes on a later try instead of exiting 0 with the report lost."""
    server.add_node("worker-0")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text("")
    server.inject(403, count=1, method="PATCH", message="configmaps is forbidden (injected)")
    argv = [sys.executable, "-m", "agent", "run", "--kubeconfig", str(kubeconfig)]
    argv += ["--host-root", str(root), "--image", "x.example.com/a@sha256:" + "b" * 64]
    argv += ["--jitter", "0s", "--poll", "1s", "--cycles", "1", "--log-format", "json"]
    done = subprocess.run(
        argv,
        env={**os.environ, "NODE_NAME": "worker-0", "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    # the verdict is not pass: its Node event is recorded once the report is published
    assert [event["event"] for event in events] == ["check", "node-event", "published"], done.stderr
    assert events[0]["published"] is False and "forbidden" in events[0]["publishError"]
    assert done.returncode == 0
    assert server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS) is not None


def test_agent_run_process_publishes_and_stops_on_sigterm(
    server: FakeApiServer, tmp_path: Path
) -> None:
    server.add_node("worker-0")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text("")
    env = {**os.environ, "NODE_NAME": "worker-0", "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--host-root",
            str(root),
            "--image",
            "x.example.com/a@sha256:" + "b" * 64,
            "--jitter",
            "0s",
            "--poll",
            "1s",
            "--log-format",
            "json",
            "--heartbeat-file",
            str(tmp_path / "heartbeat"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    try:
        # SIGTERM only once the cycle has logged its check line: the ConfigMap alone
        # can exist while the publish call has not returned yet.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            if any('"event":"check"' in line for line in lines):
                break
            time.sleep(0.1)
        stored = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
        assert stored is not None, process.stderr.read() if process.poll() is not None else ""
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert time.monotonic() - started < 10
        reader.join(timeout=5)
        err = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
    out = "".join(lines)
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    # the error verdict's Node event is logged as its report is published, before "check"
    assert events[:2] == ["node-event", "check"] and events[-1] == "terminated", (out, err)
    assert process.returncode == 0
    assert (tmp_path / "heartbeat").exists()
    # No podman in this host root: the check could not run, and says so.
    report = json.loads(stored["data"]["report.json"])
    assert report["verdict"] == "error"


# --- agent collect ------------------------------------------------------------------------


@pytest.fixture
def cluster(server: FakeApiServer, tmp_path: Path) -> Path:
    for name in ("w1", "w2", "w3", "w4"):
        server.add_node(
            name,
            labels={"node-role.kubernetes.io/worker": ""},
            annotations={"machineconfiguration.openshift.io/currentConfig": "rendered-worker-1"},
        )
    seed_report(server, "w1")
    seed_report(server, "w2", verdict="fail")
    seed_report(server, "w3", fingerprint="sha256:different")
    seed_report(server, "gone")
    put_daemonset(server)
    return server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)


def put_daemonset(server: FakeApiServer, node_selector: Optional[dict[str, str]] = None) -> None:
    """The agent's DaemonSet: which nodes are expected to report."""
    server.put(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "mirror-agent", "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "nodeSelector": node_selector or {},
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "a", "image": "x"}],
                    },
                },
            },
        }
    )


def collect(capsys: Any, *argv: str) -> tuple[int, str]:
    code = main(["collect", *argv])
    return code, capsys.readouterr().out


def test_collect_json(cluster: Path, capsys: Any) -> None:
    code, out = collect(capsys, "--kubeconfig", str(cluster), "-o", "json")
    document = json.loads(out)
    assert code == 1
    assert document["summary"] == {
        "expected": 4,
        "reported": 3,
        "pass": 2,
        "warn": 0,
        "fail": 1,
        "error": 0,
        "missing": 1,
        "unknown": 0,
        "stale": 0,
        "orphaned": 1,
        "drift": 1,
    }
    statuses = {n["node"]: (n["status"], n["verdict"], n["drift"]) for n in document["nodes"]}
    assert statuses == {
        "w1": ("reported", "pass", False),
        "w2": ("reported", "fail", False),
        "w3": ("reported", "pass", True),
        "w4": ("missing", None, False),
        "gone": ("orphaned", "pass", False),
    }
    assert document["images"][0]["servedBy"] == {"m.example.net/a": 3}


def test_collect_follows_the_daemonset_placement(
    server: FakeApiServer, cluster: Path, capsys: Any
) -> None:
    server.add_node("win", labels={"kubernetes.io/os": "windows"})
    put_daemonset(server, {"kubernetes.io/os": "linux"})
    _, out = collect(capsys, "--kubeconfig", str(cluster), "-o", "json")
    document = json.loads(out)
    assert document["expectedFrom"] == "daemonset"
    assert "win" not in {n["node"] for n in document["nodes"]}


@pytest.mark.parametrize("unreadable", ["absent", "forbidden"])
def test_collect_without_the_daemonset_says_the_expected_set_is_approximated(
    server: FakeApiServer, cluster: Path, capsys: Any, unreadable: str
) -> None:
    """A Windows node (no agent) must not show as MISSING and fail the summary because
    the DaemonSet could not be read: its nodes are unknown, and the output says so. (A
    server error is retried first: tests/unit/commands/test_run_resilience.py.)"""
    server.add_node("win", labels={"kubernetes.io/os": "windows"})
    if unreadable == "absent":
        assert server.delete_object("DaemonSet", "mirror-agent", NS)
    if unreadable == "forbidden":
        server.deny("get", "daemonsets", NS)
    code, out = collect(capsys, "--kubeconfig", str(cluster), "-o", "json")
    document = json.loads(out)
    assert document["expectedApproximate"] is True
    assert document["expectedFrom"] == "all-nodes"
    assert "DaemonSet could not be read" in document["warnings"][0]
    statuses = {n["node"]: n["status"] for n in document["nodes"]}
    assert statuses["win"] == "unknown" and statuses["w4"] == "unknown"
    assert document["summary"]["missing"] == 0 and document["summary"]["unknown"] == 2
    assert code == 1  # w2 fails; the unknown nodes do not add to it
    _, table = collect(capsys, "--kubeconfig", str(cluster))
    assert "warning: the DaemonSet could not be read" in table and "UNKNOWN" in table


def test_collect_reads_the_reports_namespace_it_is_given(
    server: FakeApiServer, cluster: Path, capsys: Any
) -> None:
    """--reports-namespace: the reports there, none of the default one's; the DaemonSet
    still from mirror-agent's namespace."""
    server.add_namespace("elsewhere")
    report = CheckReport(node="w4", checked_at=timestamp(), verdict="pass", fingerprint="x")
    server.put(report_configmap(report, namespace="elsewhere", node=None))
    code, out = collect(
        capsys, "--kubeconfig", str(cluster), "--reports-namespace", "elsewhere", "-o", "json"
    )
    document = json.loads(out)
    statuses = {n["node"]: n["status"] for n in document["nodes"]}
    assert statuses == {"w1": "missing", "w2": "missing", "w3": "missing", "w4": "reported"}
    assert document["expectedFrom"] == "daemonset" and code == 1
    # and without the option, the derived mirror-agent-reports as before
    _, out = collect(capsys, "--kubeconfig", str(cluster), "-o", "json")
    assert {n["node"]: n["status"] for n in json.loads(out)["nodes"]}["w4"] == "missing"


def test_collect_stale_by_max_age(server: FakeApiServer, cluster: Path, capsys: Any) -> None:
    seed_report(server, "w4", checked_at="2020-01-01T00:00:00Z")
    _, out = collect(capsys, "--kubeconfig", str(cluster), "-o", "json", "--max-age", "6h")
    row = next(n for n in json.loads(out)["nodes"] if n["node"] == "w4")
    assert row["status"] == "stale" and "max-age" in row["staleReason"]


@pytest.mark.parametrize("output", ["table", "wide", "markdown", "junit"])
def test_collect_every_output_format(cluster: Path, capsys: Any, output: str) -> None:
    code, out = collect(capsys, "--kubeconfig", str(cluster), "-o", output)
    assert code == 1
    assert "w4" in out and "gone" in out
    if output == "junit":
        import xml.etree.ElementTree as ElementTree

        suite = ElementTree.fromstring(out)
        assert suite.get("tests") == "5" and suite.get("failures") == "3"
        gone = next(case for case in suite if case.get("name") == "gone")
        assert gone.find("skipped") is not None and gone.find("failure") is None
    elif output == "markdown":
        assert out.startswith("### mirror-agent") and "| 1 | FAIL | worker | w2 |" in out
    else:
        assert "MISSING" in out and "ORPHANED" in out and "overall: NOT OK" in out


def test_collect_from_file(cluster: Path, capsys: Any, tmp_path: Path) -> None:
    listing = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(cluster),
            "get",
            "configmaps",
            "-n",
            REPORTS_NS,
            "-l",
            REPORT_SELECTOR,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    saved = tmp_path / "reports.json"
    saved.write_text(listing)
    code, out = collect(capsys, "--from-file", str(saved), "-o", "json")
    document = json.loads(out)
    assert document["expectedFrom"] == "reports"
    assert {n["node"] for n in document["nodes"]} == {"w1", "w2", "w3", "gone"}
    assert code == 1


def test_collect_bad_input(capsys: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["collect", "--from-file", str(bad)]) == 2
    assert main(["collect", "--from-file", str(bad), "--max-age", "soon"]) == 2
    assert "expected a ConfigMapList" in capsys.readouterr().err


# --- least privilege: the manifests' RBAC, enforced by the fake API server ------------------


def test_the_shipped_rbac_lets_the_agent_publish_and_nothing_more(
    server: FakeApiServer, tmp_path: Path
) -> None:
    manifests = [
        doc
        for path in sorted((PROJECT_ROOT / "daemonset").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    server.add_node("worker-0")
    server.use_rbac(manifests)
    agent = run_agent(tmp_path, server)
    agent.step()
    assert agent.publisher.pending is None, agent.publisher.last_error
    assert server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS) is not None
    client = client_for(server)
    with pytest.raises(Forbidden):
        client.get(configmap_path(NS, "mirror-agent-checks"))  # reads nothing: mounted file
    with pytest.raises(Forbidden):
        next(iter(client.list(configmap_path(NS))))
    with pytest.raises(Forbidden):
        client.request("DELETE", configmap_path(NS, "mirror-agent-report-worker-0"))
    with pytest.raises(Forbidden):
        client.apply(
            configmap_path("kube-system", "x"),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            field_manager="mirror-agent",
        )
    with pytest.raises(Forbidden):
        next(iter(client.list("/api/v1/nodes")))  # a Node by name (get), never the list
    assert client.get("/api/v1/nodes/worker-0")["metadata"]["name"] == "worker-0"


# --- agent run fed hostile checks files and registries.conf: error reports, never a crash ----

HOSTILE_INPUTS = [
    ("checks", b"\xff\xfe\x00 not UTF-8\n"),
    ("checks", b"-rf /\n"),
    ("checks", b"x.example.com/a@sha256:" + b"b" * 64 + b"\x1b]0;title\x07\n"),
    ("registries", b"[[registry]\nlocation = \n"),
    ("registries", b"\xff\xfe"),
    ("registries", b"a = " + b"[" * 600 + b"]" * 600 + b"\n"),
    ("registries", b"[[registry]]\nprefix = 1\n"),
]


def test_agent_run_reports_each_hostile_input_and_keeps_running(
    server: FakeApiServer, tmp_path: Path
) -> None:
    server.add_node("worker-0")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    conf = root / "etc/containers/registries.conf"
    conf.write_text("")
    checks = tmp_path / "checks" / "images.txt"
    checks.parent.mkdir()
    checks.write_text("x.example.com/a@sha256:" + "b" * 64 + "\n")
    env = {**os.environ, "NODE_NAME": "worker-0", "PYTHONPATH": str(PROJECT_ROOT)}
    argv = [sys.executable, "-m", "agent", "run", "--kubeconfig", str(kubeconfig)]
    argv += ["--host-root", str(root), "--images-file", str(checks), "--jitter", "0s"]
    argv += ["--poll", "1s", "--log-format", "json"]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        lines.extend(process.stdout)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()

    def checks_logged() -> int:
        return sum(1 for line in list(lines) if '"event":"check"' in line)

    def wait_for_check(count: int) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while checks_logged() < count and process.poll() is None:
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        stored = server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
        assert stored is not None
        return json.loads(stored["data"]["report.json"])  # type: ignore[no-any-return]

    try:
        wait_for_check(1)
        good_conf, good_checks = conf.read_bytes(), checks.read_bytes()
        for number, (which, content) in enumerate(HOSTILE_INPUTS, start=2):
            conf.write_bytes(content if which == "registries" else good_conf)
            checks.write_bytes(content if which == "checks" else good_checks)
            # a new mtime whatever the file system's resolution
            os.utime(conf, (time.time() + number, time.time() + number))
            report = wait_for_check(number)
            codes = [f["code"] for f in report["findings"]] + [
                f["code"] for image in report["images"] for f in image["findings"]
            ]
            assert report["verdict"] in ("fail", "error"), (which, content, report)
            assert any(
                code
                in (
                    "checks-file-invalid",
                    "registries-conf-invalid",
                    "check-failed",
                    "invalid-reference",
                )
                for code in codes
            ), (which, content, codes)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=5)
    err = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in err, err
    assert process.returncode == 0


def test_agent_run_with_cycles_stopped_before_publishing_exits_environment(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """A one-shot run (--cycles 1) that SIGTERM stops before its report is published must
    not exit 0: a Job would count as successful with no report."""
    server.add_node("worker-0")
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text("")
    argv = [sys.executable, "-m", "agent", "run", "--kubeconfig", str(kubeconfig)]
    argv += ["--host-root", str(root), "--image", "x.example.com/a@sha256:" + "b" * 64]
    argv += ["--jitter", "10m", "--poll", "1s", "--cycles", "1", "--log-format", "json"]
    process = subprocess.Popen(
        argv,
        env={**os.environ, "NODE_NAME": "worker-0", "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the jitter's wait: no check has run yet
        assert json.loads(first)["event"] == "waiting", first
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert events == ["terminated", "unpublished"], (out, err)
    assert process.returncode == 69
    assert server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS) is None
