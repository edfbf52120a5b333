"""agent run's Node events against the fake API server: one event per verdict change
(failing, warning, recovered), a repeat counted on the same event, nothing while the
verdict stays the same, nothing new after a restart, and a refused event that does not
stop the report."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from agent.commands.node_events import verdict_event, with_node_events
from agent.kube.client import Invalid, KubeClient
from agent.kube.config import ClusterConfig
from agent.kube.events import EVENTS_NAMESPACE, NodeEventRecorder, events_path
from agent.kube.publish import NodeReportPublisher
from agent.node.last_verdict import LastVerdictFile
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult
from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # where the reports are published
NODE = "worker-1"
IMAGE = "quay.io/openshift-release-dev/ocp-release@sha256:" + "5e" * 32
MIRROR = "mirror.corp.example:8443/ocp4/openshift4@sha256:" + "5e" * 32


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        fake.add_namespace(NS)
        fake.add_namespace(REPORTS_NS)
        fake.add_node(NODE)
        yield fake


def client_for(server: FakeApiServer) -> KubeClient:
    config = ClusterConfig(server=server.url, verify=server.ca_file, token=server.token)
    return KubeClient(config, sleep=lambda seconds: None, retries=0)


def report(verdict: str, checked_at: str = "2030-01-01T00:00:00Z") -> CheckReport:
    if verdict == "pass":
        image = ImageResult(image=IMAGE, verdict="pass", served_by=MIRROR, served_by_kind="mirror")
    elif verdict == "warn":
        image = ImageResult(
            image=IMAGE, verdict="warn", served_by=IMAGE, served_by_kind="source",
            attempts=(AttemptRecord(MIRROR, "failed", "mirror", "tls"),
                      AttemptRecord(IMAGE, "served", "source")),
            findings=(Finding("served-by-source", "warn", "every mirror failed"),),
        )  # fmt: skip
    else:
        image = ImageResult(
            image=IMAGE, verdict=verdict,
            attempts=(AttemptRecord(MIRROR, "failed", "mirror", "manifest-unknown"),),
            findings=(Finding("not-served", verdict, "no source served the image"),),
        )  # fmt: skip
    return CheckReport(node=NODE, checked_at=checked_at, verdict=verdict, images=(image,))


def sender(
    server: FakeApiServer, logged: list[dict[str, Any]], state: Optional[Path] = None
) -> Any:
    """The report publisher with Node events; ``state``: the pod's emptyDir, which a
    restarted container finds again (None: a new pod, nothing remembered)."""
    client = client_for(server)
    send = with_node_events(
        NodeReportPublisher(client, namespace=REPORTS_NS, node_name=NODE),
        client,
        node=NODE,
        remembered=LastVerdictFile.beside(state / "heartbeat" if state else None),
    )
    send.log = logged.append
    return send


def events(server: FakeApiServer) -> list[dict[str, Any]]:
    return sorted(
        server.objects("events", EVENTS_NAMESPACE), key=lambda e: e["metadata"]["creationTimestamp"]
    )


def test_one_event_per_change_and_repeats_counted(server: FakeApiServer) -> None:
    logged: list[dict[str, Any]] = []
    send = sender(server, logged)
    send(report("pass"))
    assert events(server) == []  # a first report that passes says nothing
    send(report("fail"))
    send(report("fail"))  # unchanged: no event, no count
    (failed,) = events(server)
    assert failed["reason"] == "MirrorCheckFailed" and failed["type"] == "Warning"
    assert failed["count"] == 1
    assert failed["involvedObject"] == {
        "apiVersion": "v1", "kind": "Node", "name": NODE, "uid": NODE,
    }  # fmt: skip
    assert failed["metadata"]["namespace"] == "default"
    assert IMAGE in failed["message"] and "mirror.corp.example:8443" in failed["message"]
    assert "manifest-unknown" in failed["message"]
    assert "oc mirror-agent collect" in failed["message"]

    send(report("pass"))
    send(report("warn"))
    send(report("fail"))  # the same failure again: counted on the first event
    by_reason = {e["reason"]: e for e in events(server)}
    assert set(by_reason) == {"MirrorCheckFailed", "MirrorCheckRecovered", "MirrorCheckWarning"}
    assert by_reason["MirrorCheckFailed"]["count"] == 2
    assert by_reason["MirrorCheckRecovered"]["type"] == "Normal"
    assert "was fail" in by_reason["MirrorCheckRecovered"]["message"]
    assert "served by source" in by_reason["MirrorCheckWarning"]["message"]
    posts = [r for r in server.requests if r.method == "POST" and "/events" in r.path]
    patches = [r for r in server.requests if r.method == "PATCH" and "/events/" in r.path]
    assert (len(posts), len(patches)) == (3, 1)
    assert [entry["event"] for entry in logged] == ["node-event"] * 4


def test_a_restarted_agent_does_not_repeat_the_known_verdict(
    server: FakeApiServer, tmp_path: Path
) -> None:
    sender(server, [], tmp_path)(report("fail"))
    assert len(events(server)) == 1
    restarted = sender(server, [], tmp_path)  # reads the remembered verdict first
    restarted(report("fail"))
    (event,) = events(server)
    assert event["count"] == 1
    # and a change after the restart that repeats an earlier event counts on it
    restarted(report("pass"))
    again = sender(server, [], tmp_path)
    again(report("fail"))
    failed = next(e for e in events(server) if e["reason"] == "MirrorCheckFailed")
    assert failed["count"] == 2


def test_a_restart_under_the_shipped_rbac_reads_no_configmap(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """The shipped Role grants create/patch on ConfigMaps, no get: the previous verdict
    comes from the pod's emptyDir, and a restarted failing agent stays quiet."""
    manifests = [
        document
        for path in sorted((PROJECT_ROOT / "daemonset").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    server.use_rbac(manifests)
    sender(server, [], tmp_path)(report("fail"))
    server.clear_requests()
    logged: list[dict[str, Any]] = []
    restarted = sender(server, logged, tmp_path)
    restarted(report("fail"))
    (event,) = events(server)
    assert event["count"] == 1 and logged == []
    reads = [r for r in server.requests if r.method == "GET" and "/configmaps" in r.path]
    assert reads == []
    assert (tmp_path / "last-verdict").read_text() == "fail\n"


def test_an_unreadable_remembered_verdict_is_unknown(tmp_path: Path) -> None:
    remembered = LastVerdictFile.beside(tmp_path / "heartbeat")
    assert remembered.read() is None  # none yet
    (tmp_path / "last-verdict").write_text("\x1b[31mforged\n")
    assert remembered.read() is None  # not a verdict
    (tmp_path / "last-verdict").unlink()
    os.mkfifo(tmp_path / "last-verdict")
    assert remembered.read() is None  # never blocks
    assert LastVerdictFile.beside(None).read() is None
    LastVerdictFile.beside(None).write("fail")  # no file: nothing written, no error


def test_a_refused_event_does_not_stop_the_report(server: FakeApiServer) -> None:
    server.deny("create", "events")
    logged: list[dict[str, Any]] = []
    send = sender(server, logged)
    send(report("fail"))
    assert server.get_object("ConfigMap", f"mirror-agent-report-{NODE}", REPORTS_NS) is not None
    assert events(server) == []
    assert logged[0]["event"] == "node-event-failed" and "403" in str(logged[0]["error"])


def test_the_fake_refuses_a_node_event_outside_default(server: FakeApiServer) -> None:
    client = client_for(server)
    recorder = NodeEventRecorder(client, NODE)
    event = recorder.record("MirrorCheckFailed", "Warning", "x")
    assert event["metadata"]["namespace"] == "default"
    misplaced = {**event, "metadata": {"name": "elsewhere", "namespace": NS}}
    with pytest.raises(Invalid, match=r"involvedObject\.namespace: Invalid value"):
        client.request(
            "POST", events_path(NS), body=json.dumps(misplaced).encode(),
            content_type="application/json",
        )  # fmt: skip
    new_style = {**misplaced, "metadata": {"name": "new", "namespace": "default"},
                 "eventTime": "2030-01-01T00:00:00.000000Z", "reportingComponent": "",
                 "action": ""}  # fmt: skip
    with pytest.raises(Invalid) as caught:
        client.request(
            "POST", events_path("default"), body=json.dumps(new_style).encode(),
            content_type="application/json",
        )  # fmt: skip
    assert "reportingComponent: Required value" in str(caught.value)
    assert "action: Required value" in str(caught.value)


def test_verdict_event_is_pure_and_clipped() -> None:
    assert verdict_event("fail", report("fail")) is None
    assert verdict_event(None, report("pass")) is None
    error = verdict_event(None, report("error"))
    assert error is not None and error.reason == "MirrorCheckError"
    long = replace(report("fail"), images=tuple(
        replace(report("fail").images[0], image=IMAGE + str(n) * 300) for n in range(5)
    ))  # fmt: skip
    event = verdict_event("pass", long)
    assert event is not None and len(event.message) <= 1024
    node_level = CheckReport(
        node=NODE, checked_at="2030-01-01T00:00:00Z", verdict="fail",
        findings=(Finding("registries-conf-invalid", "fail", "line 7: expected '='"),),
    )  # fmt: skip
    found = verdict_event("pass", node_level)
    assert found is not None and "registries-conf-invalid: line 7" in found.message


def test_kubectl_finds_the_event_as_describe_node_searches(
    server: FakeApiServer, tmp_path: Path
) -> None:
    """The real kubectl lists the node's events across namespaces by involvedObject, the
    fields ``kubectl describe node`` searches by (kind, name, uid = the node's name)."""
    sender(server, [])(report("fail"))
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    selector = f"involvedObject.kind=Node,involvedObject.name={NODE},involvedObject.uid={NODE}"
    done = subprocess.run(
        ["/usr/bin/kubectl", "--kubeconfig", str(kubeconfig), "get", "events", "-A",
         "--field-selector", selector, "-o", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (event,) = json.loads(done.stdout)["items"]
    assert (event["reason"], event["type"], event["count"]) == ("MirrorCheckFailed", "Warning", 1)
    other = selector.replace(f"name={NODE}", "name=worker-9")
    none = subprocess.run(
        ["/usr/bin/kubectl", "--kubeconfig", str(kubeconfig), "get", "events", "-A",
         "--field-selector", other, "-o", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert none.returncode == 0 and json.loads(none.stdout)["items"] == []


def test_kubectl_describe_node_shows_the_event(server: FakeApiServer, tmp_path: Path) -> None:
    """What an administrator reads: the Events section of ``kubectl describe node``
    (``oc describe node`` is the same code), from the real kubectl."""
    server.register_kind("", "v1", "pods", "Pod", True, short_names=("po",))  # describe lists them
    sender(server, [])(report("fail"))
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    done = subprocess.run(
        ["/usr/bin/kubectl", "--kubeconfig", str(kubeconfig), "describe", "node", NODE],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events_section = done.stdout.split("\nEvents:\n", 1)[1]
    (line,) = [row for row in events_section.splitlines() if "MirrorCheck" in row]
    assert line.split()[:2] == ["Warning", "MirrorCheckFailed"]
    assert "mirror-agent" in line and "Mirror check fail on worker-1" in line
