"""A real Prometheus (Debian's package, on 127.0.0.1) scrapes ``agent collect
--serve-metrics`` reading a fake API server, with the PrometheusRule's groups loaded: the
failing node's alert becomes active, and nothing alerts about the passing nodes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml

from agent.report import timestamp
from tests.support import monitoring as cluster
from tests.support.fake_apiserver import FakeApiServer
from tests.support.processes import ProcessTracker, stop_process_tree, tail

WAIT = 90.0  # seconds: the bound on every wait below (a failure names what was missing)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    with urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for(what: str, probe: Callable[[], Optional[Any]], logs: list[Path]) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            found = probe()
        except (URLError, OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(0.5)
    shown = "\n".join(f"--- {log.name}\n{tail(log)}" for log in logs)
    pytest.fail(f"no {what} within {WAIT}s\n{shown}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessTracker]:
    tracker = ProcessTracker(tmp_path, lambda: None)
    yield tracker
    tracker.stop_all()


def seed(server: FakeApiServer) -> None:
    server.add_namespace(cluster.NS)
    server.add_namespace(cluster.REPORTS_NS)
    server.put(cluster.daemonset())  # which nodes should report: the silent one is missing
    for node in cluster.node_objects():
        server.put(node)
    for configmap in cluster.report_configmaps(checked_at=timestamp()):
        server.put(configmap)


def test_prometheus_scrapes_the_exporter_and_the_failing_node_alert_becomes_active(
    tmp_path: Path, processes: ProcessTracker
) -> None:
    with FakeApiServer() as server:
        seed(server)
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        exporter_port, prometheus_port = free_port(), free_port()
        exporter_log = tmp_path / "exporter.log"
        agent = str(Path(sys.executable).with_name("agent"))
        exporter = processes.spawn(
            [agent, "collect", f"--serve-metrics=127.0.0.1:{exporter_port}", "--interval=1s",
             f"--kubeconfig={kubeconfig}", f"--namespace={cluster.NS}"],
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            stdout=exporter_log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

        cluster.write_rule_groups(tmp_path / "rules.yaml")
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yaml"],
            "scrape_configs": [{
                "job_name": "mirror-agent-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            }],
        }))  # fmt: skip
        prometheus_log = tmp_path / "prometheus.log"
        prometheus = processes.spawn(
            [cluster.tool("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
            stdout=prometheus_log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        logs = [exporter_log, prometheus_log]
        api = f"http://127.0.0.1:{prometheus_port}/api/v1"

        def verdict_of_failing_node() -> Optional[list[Any]]:
            query = urlencode({"query": 'mirror_agent_node_verdict{verdict="fail"} == 1'})
            result = get_json(f"{api}/query?{query}")["data"]["result"]
            return result or None

        (failing,) = wait_for("scraped verdict", verdict_of_failing_node, logs)
        assert failing["metric"]["node"] == cluster.FAILING
        assert failing["metric"]["job"] == "mirror-agent-exporter"

        def active_alerts() -> Optional[list[dict[str, Any]]]:
            alerts = get_json(f"{api}/alerts")["data"]["alerts"]
            mine = [a for a in alerts if a["labels"]["alertname"] == "MirrorAgentNodeCheckFailing"]
            return mine or None

        (alert,) = wait_for("active MirrorAgentNodeCheckFailing alert", active_alerts, logs)
        # pending for its `for` (10m), then firing: active either way, with its activeAt
        assert alert["state"] in ("pending", "firing")
        assert alert["activeAt"]
        assert alert["labels"]["node"] == cluster.FAILING
        assert alert["labels"]["severity"] == "critical"
        assert f"oc debug node/{cluster.FAILING}" in alert["annotations"]["description"]

        # every alert the cluster's state calls for is active, and none about healthy nodes
        def all_expected() -> Optional[set[tuple[str, str]]]:
            alerts = get_json(f"{api}/alerts")["data"]["alerts"]
            seen = {
                (a["labels"]["alertname"], a["labels"].get("node") or a["labels"].get("mirror")
                 or a["labels"].get("registry") or "")
                for a in alerts
            }  # fmt: skip
            wanted = {
                ("MirrorAgentNodeCheckFailing", cluster.FAILING),
                ("MirrorAgentNodeNotReporting", cluster.SILENT),
                ("MirrorAgentNodeReportStale", cluster.STALE),
                ("MirrorAgentRegistriesConfDrift", cluster.DRIFTED),
                ("MirrorAgentImageServedBySource", "quay.io"),
                ("MirrorAgentMirrorFailing", "mirror.corp.example:8443"),
                ("MirrorAgentMirrorFailing", "backup.corp.example"),
            }
            return seen if wanted <= seen else None

        seen = wait_for("every expected alert", all_expected, logs)
        healthy = {*cluster.PASSING, cluster.FALLBACK, cluster.BY_SOURCE}
        assert not {node for _alert, node in seen} & healthy
        assert not {name for name, _ in seen} & {
            "MirrorAgentExporterCannotRead",
            "MirrorAgentExporterAbsent",
        }

        # the exporter stops cleanly on SIGTERM
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(timeout=30) == 0
        assert '"event":"terminated"' in exporter_log.read_text()
        stop_process_tree(prometheus)
