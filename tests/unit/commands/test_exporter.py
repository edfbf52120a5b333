"""The exporter's edge: reads on an interval, a failed read kept visible, the address
option, a port that cannot be bound, and the HTTP endpoint itself."""

from __future__ import annotations

import io
import json
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path
from urllib.request import urlopen

import pytest

from agent.cli.app import main
from agent.cli.options import listen_address
from agent.collect import Summary, summarise
from agent.commands.exporter import SummaryCollector, serve_metrics
from agent.errors import EnvironmentFailure, ExitCode, UsageError
from agent.process import Terminated
from tests.support import monitoring as cluster

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def summary() -> Summary:
    return summarise(
        cluster.report_configmaps(), cluster.node_objects(), daemonset=None, now=NOW, max_age=None
    )


def names(collector: SummaryCollector) -> set[str]:
    return {family.name for family in collector.collect()}  # type: ignore[attr-defined]


def test_a_failed_read_keeps_the_last_summary() -> None:
    answers: list[object] = [summary(), EnvironmentFailure("503 ServiceUnavailable: busy")]

    def read() -> Summary:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    collector = SummaryCollector(read, now=lambda: NOW)
    assert collector.refresh() is None
    assert collector.refresh() == "503 ServiceUnavailable: busy"
    assert collector.summary is not None and collector.last_error
    families = {family.name: family for family in collector.collect()}  # type: ignore[attr-defined]
    assert families["mirror_agent_collect_success"].samples[0].value == 0
    assert "mirror_agent_node_verdict" in families


def test_an_unexpected_failure_is_a_failed_read_and_serving_goes_on() -> None:
    answers: list[object] = [summary(), RecursionError("maximum recursion depth exceeded")]

    def read() -> Summary:
        answer = answers.pop(0) if answers else summary()
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    collector = SummaryCollector(read, now=lambda: NOW)
    assert collector.refresh() is None
    assert collector.refresh() == "RecursionError: maximum recursion depth exceeded"
    families = {family.name: family for family in collector.collect()}  # type: ignore[attr-defined]
    assert families["mirror_agent_collect_success"].samples[0].value == 0
    assert "mirror_agent_node_verdict" in families  # the last summary is still served
    assert collector.refresh() is None  # and the next read recovers
    assert collector.last_error is None


def test_the_serving_loop_logs_an_unexpected_failure_and_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []

    def read() -> Summary:
        reads.append("read")
        if len(reads) == 1:
            raise TypeError("'int' object is not subscriptable")
        return summary()

    def sleep(seconds: float) -> None:
        if len(reads) >= 2:
            raise Terminated()

    out = io.StringIO()
    code = serve_metrics(read, host="127.0.0.1", port=0, interval=1.0, out=out, sleep=sleep)
    assert code == ExitCode.OK
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [event["event"] for event in events] == ["serving", "read-failed", "read", "terminated"]
    assert events[1]["error"] == "TypeError: 'int' object is not subscriptable"


def test_listen_address() -> None:
    assert listen_address("--serve-metrics", ":9321") == ("0.0.0.0", 9321)
    assert listen_address("--serve-metrics", "127.0.0.1:80") == ("127.0.0.1", 80)
    assert listen_address("--serve-metrics", "[::1]:9321") == ("::1", 9321)
    for bad in ("9321", ":0", ":70000", "host:", "host:port"):
        with pytest.raises(UsageError, match="--serve-metrics"):
            listen_address("--serve-metrics", bad)


def test_a_bad_address_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--serve-metrics", "nine"]) == ExitCode.BAD_INPUT
    assert "[HOST]:PORT" in capsys.readouterr().err


def test_a_bad_reports_file_is_refused_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "reports.json"
    bad.write_text("{")
    code = main(["collect", "--serve-metrics", "127.0.0.1:9", "--from-file", str(bad)])
    assert code == ExitCode.BAD_INPUT
    assert "reports.json: not valid JSON" in capsys.readouterr().err


def test_stdin_cannot_be_re_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--serve-metrics", ":9321", "--from-file", "-"]) == 2
    assert "--from-file - (stdin)" in capsys.readouterr().err


def test_a_port_in_use_is_an_environment_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EnvironmentFailure, match=f"127.0.0.1:{port}: cannot listen"):
            serve_metrics(summary, host="127.0.0.1", port=port, interval=1, out=io.StringIO())


def test_serves_metrics_until_terminated() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = io.StringIO()
    scraped: list[str] = []
    ready = threading.Event()

    def sleep(seconds: float) -> None:
        # the first interval: scrape over HTTP, then stop as SIGTERM would
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            scraped.append(response.read().decode())
        ready.set()
        raise Terminated()

    code = serve_metrics(summary, host="127.0.0.1", port=port, interval=60, out=out, sleep=sleep)
    assert code == ExitCode.OK and ready.is_set()
    assert (
        'mirror_agent_node_verdict{node="worker-d",pool="worker",verdict="fail"} 1.0'
        in (scraped[0])
    )
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["serving", "read", "terminated"]
    with pytest.raises(OSError):  # the port is closed again
        urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_only_the_exporter_imports_prometheus_client(tmp_path: Path) -> None:
    """~38 ms of imports (190 ms cold) that no other command should pay."""
    import subprocess
    import sys

    reports = tmp_path / "reports.json"
    reports.write_text(json.dumps({"items": cluster.report_configmaps()}))
    probe = (
        "import sys\n"
        "from agent.cli.app import main\n"
        f"main(['collect', '--from-file', {str(reports)!r}, '-o', 'json'])\n"
        "sys.stderr.write('LOADED' if 'prometheus_client' in sys.modules else 'NOT-LOADED')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stderr.endswith("NOT-LOADED"), done.stderr
    assert json.loads(done.stdout)["summary"]["expected"] == 8  # the reports, without nodes
