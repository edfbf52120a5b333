#!/usr/bin/env python3
"""agent collect at cluster scale: 500 and 5,000 node reports from the fake API server.

The fake server (tests/support/fake_apiserver, real HTTPS on loopback) holds N Nodes and N
report ConfigMaps (each a realistic ~2-3 KB report of three images); `agent collect -o
json` runs as a whole process, listing in pages of about 2 MiB (REPORT_PAGE_BYTES: some
380 of these reports). Prints the median wall time and the peak resident memory (ru_maxrss
of the child) at each size.
Targets: 5,000 nodes in under 3 s; peak memory at 5,000 no more than 1.3x that at 500.

Usage: bench/collect_scale.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from agent.kube.contract import reports_namespace  # noqa: E402
from agent.kube.publish import report_configmap  # noqa: E402
from agent.report import AttemptRecord, CheckReport, Expected, Finding, ImageResult  # noqa: E402
from tests.support.fake_apiserver import FakeApiServer  # noqa: E402

NS = "mirror-agent"
REPORTS_NS = reports_namespace(NS)  # where agent collect lists the reports
DIGEST = "sha256:" + "c" * 64


def a_report(node: str) -> CheckReport:
    images = []
    for number in range(3):
        source = f"quay.io/openshift-release-dev/ocp-v4.0-art-dev-{number}@{DIGEST}"
        mirror = f"mirror.corp.example:8443/ocp4/openshift4-{number}@{DIGEST}"
        images.append(
            ImageResult(
                image=source,
                verdict="pass",
                reference=source,
                expected=(Expected(mirror, "mirror"), Expected(source, "source")),
                attempts=(AttemptRecord(mirror, "served", "mirror"),),
                served_by=mirror,
                served_by_kind="mirror",
                findings=(
                    Finding("served-by-mirror", "info", f"served by the first mirror {mirror}"),
                ),
                rounds=1,
                exit_code=0,
                duration_seconds=0.4,
            )
        )
    return CheckReport(
        node=node,
        checked_at="2099-01-01T00:00:00Z",
        verdict="pass",
        images=tuple(images),
        podman_version="5.4.0",
        fingerprint="sha256:" + "f" * 64,
        extra={"machineConfig": {"currentConfig": "rendered-worker-1"}},
    )


def measure(kubeconfig: Path, count: int) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one `agent collect -o json` process, whose summary
    must hold ``count`` nodes with a report (an empty read would measure nothing)."""
    script = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "elapsed = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "try:\n"
        "    reported = json.loads(done.stdout)['summary']['reported']\n"
        "except (ValueError, KeyError, TypeError):\n"
        "    reported = -1\n"
        "print(elapsed, rss, done.returncode, reported)\n"
    )
    agent = [str(PROJECT / ".venv" / "bin" / "agent"), "collect", "--kubeconfig", str(kubeconfig)]
    done = subprocess.run(
        [sys.executable, "-c", script, *agent, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed, rss, code, reported = done.stdout.split()
    if code not in ("0", "1"):
        raise SystemExit(f"agent collect failed: {done.stderr}")
    if int(reported) != count:
        raise SystemExit(
            f"agent collect read {reported} nodes with a report, not {count} "
            f"(the reports are in {REPORTS_NS}): nothing measured"
        )
    return float(elapsed), int(rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    figures = {}
    with tempfile.TemporaryDirectory(prefix="mirror-agent-collect-") as scratch:
        for count in (500, 5000):
            with FakeApiServer(token="bench") as server:
                server.add_namespace(NS)
                server.add_namespace(REPORTS_NS)
                for number in range(count):
                    name = f"worker-{number:05d}"
                    server.add_node(
                        name,
                        annotations={
                            "machineconfiguration.openshift.io/currentConfig": "rendered-worker-1"
                        },
                    )
                    server.put(report_configmap(a_report(name), namespace=REPORTS_NS, node=None))
                kubeconfig = server.write_kubeconfig(Path(scratch) / f"kubeconfig-{count}", NS)
                document_size = len(json.dumps(server.objects("ConfigMap", REPORTS_NS)[0]))
                samples = [measure(kubeconfig, count) for _ in range(runs)]
                figures[count] = (
                    statistics.median(s[0] for s in samples),
                    max(s[1] for s in samples),
                    document_size,
                )
    for count, (elapsed, rss, size) in figures.items():
        print(
            f"{count:>5} nodes: agent collect -o json median {elapsed:5.2f} s, "
            f"peak RSS {rss / 1024:6.1f} MiB  (report ConfigMap ~{size / 1024:.1f} KiB)"
        )
    ratio = figures[5000][1] / figures[500][1]
    time_ok = "met" if figures[5000][0] < 3 else "NOT met"
    memory_ok = "met" if ratio <= 1.3 else "NOT met"
    print(f"5,000 nodes under 3 s: {time_ok}; memory 5,000/500 = {ratio:.2f} ", end="")
    print(f"(target <= 1.3: {memory_ok})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
