"""Peak memory of the exporter's read of the reports (docs/alerts.md): a fake API server
holding N report ConfigMaps (50 images each, with logs of --log-bytes) in this process,
the reads (``cluster_reader``, three in a row) in a child process whose VmHWM is printed.

    .venv/bin/python bench/exporter_memory.py [--nodes 500] [--log-bytes 4000] [--page 20 500]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from agent.kube.contract import reports_namespace  # noqa: E402
from agent.kube.publish import report_configmap  # noqa: E402
from agent.report import AttemptRecord, CheckReport, ImageResult  # noqa: E402
from tests.support.fake_apiserver import FakeApiServer  # noqa: E402

NS = "mirror-agent"
REPORTS_NS = reports_namespace(NS)  # where cluster_reader lists the reports

CHILD = """
import sys
import agent.commands.collect as collect
collect.REPORT_PAGE = int(sys.argv[2])
read = collect.cluster_reader(sys.argv[1], None, "mirror-agent", max_age=None)
for _ in range(3):
    summary = read()
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(summary.counts["reported"], int(peak) // 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--log-bytes", type=int, default=4000)
    parser.add_argument("--page", type=int, nargs="+", default=[20, 500])
    args = parser.parse_args()
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    with FakeApiServer() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.add_namespace(NS)
        fake.add_namespace(REPORTS_NS)
        total = 0
        for number in range(args.nodes):
            node = f"worker-{number}"
            fake.add_node(node)
            served = AttemptRecord("mirror.example.com/org/img", "served", "mirror")
            images = tuple(
                ImageResult(image=f"quay.io/org/img{i}:v1", verdict="pass",
                            log="x" * args.log_bytes, attempts=(served,),
                            served_by="mirror.example.com/org/img", served_by_kind="mirror")
                for i in range(50)
            )  # fmt: skip
            report = CheckReport(node=node, checked_at="2030-01-01T00:00:00Z", verdict="pass",
                                 images=images)  # fmt: skip
            configmap = report_configmap(report, namespace=REPORTS_NS, node=None)
            total += len(configmap["data"]["report.json"])
            fake.put(configmap)
        kubeconfig = fake.write_kubeconfig(Path(tmp) / "kubeconfig")
        print(f"{args.nodes} reports of {total // args.nodes // 1024} KB on average")
        for page in args.page:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(kubeconfig), str(page)],
                capture_output=True, text=True, env={"PYTHONPATH": str(PROJECT)},
            )  # fmt: skip
            if done.returncode != 0:
                sys.exit(done.stderr)
            nodes, peak = done.stdout.split()
            if int(nodes) != args.nodes:
                sys.exit(
                    f"read {nodes} nodes with a report, not {args.nodes} (reports in {REPORTS_NS})"
                )
            print(f"  pages of {page:>4}: {nodes} reports read, peak {peak} MiB")


if __name__ == "__main__":
    main()
