"""The exporter's reads list the report ConfigMaps in pages of about REPORT_PAGE_BYTES (at
least REPORT_PAGE reports), so its memory holds a page of reports at a time, not the
cluster's (docs/alerts.md), while small reports come many at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from agent.commands.collect import REPORT_PAGE, cluster_reader
from agent.kube.client import MAX_PAGE
from agent.kube.publish import report_configmap
from agent.report import CheckReport, ImageResult
from tests.support.fake_apiserver import FakeApiServer

NS = "mirror-agent"
REPORTS_NS = "mirror-agent-reports"  # what cluster_reader derives from NS


@pytest.mark.parametrize(
    ("log_bytes", "pages_after_the_first"),
    [
        # 20 reports of five images with long logs (each kept to its last ~64 KB when
        # published) fill more than a page's 2 MiB: every page holds the least
        (300_000, lambda limits: limits == [REPORT_PAGE] * 2),
        # 20 reports of a few KB are far below it: the next page holds the other 25
        (1_000, lambda limits: len(limits) == 1 and REPORT_PAGE + 25 <= limits[0] <= MAX_PAGE),
    ],
)
def test_the_reports_are_read_page_by_page(
    tmp_path: Path, log_bytes: int, pages_after_the_first: Callable[[list[int]], bool]
) -> None:
    count = 2 * REPORT_PAGE + 5
    with FakeApiServer() as server:
        server.add_namespace(NS)
        server.add_namespace(REPORTS_NS)
        for number in range(count):
            node = f"worker-{number:03d}"
            server.add_node(node)
            report = CheckReport(
                node=node, checked_at="2030-01-01T11:00:00Z", verdict="pass",
                images=tuple(
                    ImageResult(image=f"q.io/a:{n}", verdict="pass", served_by="m.io/a",
                                served_by_kind="mirror", log="x" * log_bytes)
                    for n in range(5)
                ),
            )  # fmt: skip
            server.put(report_configmap(report, namespace=REPORTS_NS, node=None))
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        server.clear_requests()
        summary = cluster_reader(str(kubeconfig), None, NS, max_age=None)()
        pages = [
            request
            for request in server.requests
            if request.method == "GET"
            and request.path == f"/api/v1/namespaces/{REPORTS_NS}/configmaps"
        ]
    assert summary.counts["pass"] == count
    limits = [int(request.query["limit"]) for request in pages]
    assert limits[0] == REPORT_PAGE
    assert pages_after_the_first(limits[1:]), limits
    assert REPORT_PAGE <= 20
