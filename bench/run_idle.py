#!/usr/bin/env python3
"""`agent run` at rest: resident memory and CPU time between polls.

Starts `agent run` (the DaemonSet loop) against the fake API server (tests/support/
fake_apiserver) on a host root with a mirror rule and nothing to pull, waits until its
first report is published, then samples the process for ``--seconds`` (20 by default)
while it only polls (``--poll 5s``: stat the registries.conf files, touch the heartbeat).
Prints the resident memory (RSS, and the peak) and the CPU time used while idle.
Targets: RSS <= 40 MiB; no CPU between polls (well under 1% of one core over the window:
what each poll costs, nothing in between).

Usage: bench/run_idle.py [--seconds N] [--poll S]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from agent.kube.contract import reports_namespace  # noqa: E402
from tests.support.fake_apiserver import FakeApiServer  # noqa: E402

AGENT = os.environ.get("MIRROR_AGENT_BIN", str(PROJECT / ".venv" / "bin" / "agent"))
NS = "mirror-agent"
REPORTS_NS = reports_namespace(NS)  # where agent run publishes its report
MIB = 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll", default="5s")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mirror-agent-idle-") as scratch:
        root = Path(scratch) / "host"
        (root / "etc" / "containers").mkdir(parents=True)
        (root / "var" / "tmp").mkdir(parents=True)
        (root / "etc" / "containers" / "registries.conf").write_text(
            '[[registry]]\nlocation = "quay.io/team"\n'
            '[[registry.mirror]]\nlocation = "mirror.example.com/team"\n'
        )
        heartbeat = Path(scratch) / "heartbeat"
        with FakeApiServer(token="bench") as server:
            server.add_namespace(NS)
            server.add_namespace(REPORTS_NS)
            server.add_node("worker-0")
            kubeconfig = server.write_kubeconfig(Path(scratch) / "kubeconfig", NS)
            argv = [AGENT, "run", "--kubeconfig", str(kubeconfig), "--host-root", str(root)]
            argv += ["--node", "worker-0", "--jitter", "0s", "--poll", options.poll]
            argv += ["--heartbeat-file", str(heartbeat), "--log-format", "json"]
            agent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 60
                while (
                    server.get_object("ConfigMap", "mirror-agent-report-worker-0", REPORTS_NS)
                    is None
                ):
                    if agent.poll() is not None or time.monotonic() > deadline:
                        _, err = agent.communicate()
                        raise SystemExit(f"agent run did not publish: {err.decode()[-2000:]}")
                    time.sleep(0.2)
                process = psutil.Process(agent.pid)
                time.sleep(1.0)  # the first cycle's leftovers (its log line, a GC) settle
                cpu_before = sum(process.cpu_times()[:2])
                rss = []
                touched = set()  # heartbeat times: the polls seen
                start = time.monotonic()
                while time.monotonic() - start < options.seconds:
                    rss.append(process.memory_info().rss)
                    touched.add(heartbeat.stat().st_mtime_ns)
                    time.sleep(0.5)
                idle = time.monotonic() - start
                cpu = sum(process.cpu_times()[:2]) - cpu_before
                peak = process.memory_full_info().uss
            finally:
                agent.terminate()
                agent.communicate(timeout=30)
    current = rss[-1] / MIB
    share = cpu / idle * 100
    print(
        f"agent run idle for {idle:.0f} s (--poll {options.poll}, {len(touched)} polls seen), "
        "after its first report:"
    )
    print(
        f"   RSS {current:.1f} MiB (max sampled {max(rss) / MIB:.1f} MiB, USS {peak / MIB:.1f} "
        f"MiB)   target <= 40 MiB: {'met' if max(rss) / MIB <= 40 else 'NOT met'}"
    )
    print(
        f"   CPU {cpu * 1000:.0f} ms in {idle:.0f} s ({share:.2f}% of a core)   "
        f"no CPU between polls: {'met' if share < 1.0 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
