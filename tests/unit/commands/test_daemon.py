"""The DaemonSet loop with a fake clock, runner and publisher."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from agent import registries
from agent.commands.daemon import Agent, Publisher, RunSettings
from agent.commands.health import heartbeat_age
from agent.errors import AgentError
from agent.process import Terminated
from agent.report import CheckReport
from tests.support.clock import FakeClock
from tests.unit.commands.fakes import LOGS, SRC, FakeRunner, result


def make_agent(
    tmp_path: Path, publish: Any, **settings: Any
) -> tuple[Agent, FakeClock, io.StringIO]:
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True, exist_ok=True)
    conf = root / "etc/containers/registries.conf"
    if not conf.exists():
        conf.write_text((LOGS / "registries" / "first-mirror-down.conf").read_text())
    clock = FakeClock(start=1000.0)
    out = io.StringIO()
    runner = FakeRunner({SRC: result((LOGS / "first-mirror-down.log").read_text())})
    defaults: dict[str, Any] = {"images": (SRC,), "jitter": 0.0, "poll": 30.0, "interval": 3600.0}
    defaults.update(settings)
    agent = Agent(
        RunSettings(node="node-1", reports_namespace="ns", host_root=root, **defaults),
        runner=runner,
        load=lambda compat: registries.load(root, compat=compat),
        publisher=Publisher(publish, clock=clock),
        clock=clock,
        sleep=clock.sleep,
        now=lambda: "2026-11-25T10:00:00Z",
        out=out,
        rng=random.Random(7),
    )
    return agent, clock, out


def test_checks_at_start_then_only_when_something_changes(tmp_path: Path) -> None:
    published: list[CheckReport] = []
    checks_file = tmp_path / "images.txt"
    checks_file.write_text("")
    agent, clock, out = make_agent(tmp_path, published.append, images_file=checks_file)
    assert agent.step() is not None  # start
    assert agent.step() is None  # nothing changed
    conf = tmp_path / "host/etc/containers/registries.conf"
    conf.write_text(conf.read_text() + "\n# a comment changes nothing effective\n")
    os.utime(conf, (clock.now + 5, clock.now + 5))
    assert agent.step() is None  # same fingerprint
    conf.write_text(conf.read_text().replace("5109", "5119"))
    os.utime(conf, (clock.now + 10, clock.now + 10))
    reports = [agent.step()]
    checks_file.write_text(f"{SRC}\n")
    reports.append(agent.step())
    clock.now += 3600
    reports.append(agent.step())
    reasons = [
        json.loads(line)["reason"] if line.startswith("{") else line.split("reason=")[1].split()[0]
        for line in out.getvalue().splitlines()
        if "event=check" in line
    ]
    assert reasons == ["start", "registries.conf", "checks", "interval"]
    assert all(report is not None for report in reports)
    assert len(published) == 4


def test_jitter_delays_each_check_and_keeps_the_heartbeat(tmp_path: Path) -> None:
    heartbeat = tmp_path / "run" / "heartbeat"
    agent, clock, out = make_agent(
        tmp_path, lambda report: None, jitter=120.0, heartbeat_file=heartbeat, log_format="json"
    )
    agent.step()
    waited = sum(clock.slept)
    assert 0 < waited <= 120
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["waiting", "check"]
    assert lines[1]["verdict"] == "warn" and lines[1]["published"] is True
    assert heartbeat.read_text().strip() == "2026-11-25T10:00:00Z"
    assert heartbeat_age(heartbeat) is not None
    assert heartbeat_age(tmp_path / "missing") is None


def test_the_heartbeat_is_touched_while_waiting_for_the_jitter_and_to_publish(
    tmp_path: Path,
) -> None:
    """A long jitter or a publish retried before leaving must not starve the liveness probe:
    the heartbeat is touched at least every poll interval while the loop waits."""
    attempts: list[float] = []

    def down_for_a_while(report: CheckReport) -> None:
        attempts.append(clock.now)
        if len(attempts) < 8:  # backoffs grow past the poll interval
            raise AgentError("503 ServiceUnavailable")

    agent, clock, _ = make_agent(tmp_path, down_for_a_while, jitter=600.0, poll=30.0)
    agent.rng = random.Random(1)  # a long jitter
    beats: list[float] = []
    agent.heartbeat = lambda: beats.append(clock.now)  # type: ignore[method-assign]
    started = clock.now
    agent.run_forever(max_cycles=1)
    assert clock.now - started > 60  # it did wait (jitter, then publish backoff)
    assert len(attempts) == 8 and agent.publisher.pending is None
    gaps = [later - earlier for earlier, later in zip([started, *beats], [*beats, clock.now])]
    assert max(gaps) <= 30.0 + 1e-9


def test_unpublished_report_is_kept_and_retried_with_backoff(tmp_path: Path) -> None:
    outage = {"down": True}
    published: list[CheckReport] = []

    def publish(report: CheckReport) -> None:
        if outage["down"]:
            raise AgentError("cannot reach the Kubernetes API at https://10.0.0.1:443")
        published.append(report)

    agent, clock, out = make_agent(tmp_path, publish)
    agent.step()
    assert agent.publisher.pending is not None and not published
    assert "publishError=cannot reach" in out.getvalue()
    first_retry = agent.publisher.next_try
    agent.step()  # too early: no new attempt, no crash
    assert agent.publisher.failures == 1
    clock.now = first_retry + 1
    agent.step()
    assert agent.publisher.failures == 2 and agent.publisher.next_try - clock.now >= 2
    outage["down"] = False
    clock.now = agent.publisher.next_try + 1
    agent.step()
    assert agent.publisher.pending is None and len(published) == 1
    assert "event=published" in out.getvalue()


def test_run_forever_stops_after_cycles(tmp_path: Path) -> None:
    published: list[CheckReport] = []
    agent, clock, _ = make_agent(tmp_path, published.append, interval=60.0)
    agent.run_forever(max_cycles=3)
    assert len(published) == 3
    assert clock.now - 1000.0 >= 120  # two intervals passed between the three checks


@pytest.mark.parametrize(
    ("stop", "raised"), [(Terminated(), Terminated), (KeyboardInterrupt(), KeyboardInterrupt)]
)
def test_a_check_cut_short_by_a_stop_ends_the_loop_and_publishes_nothing(
    tmp_path: Path, stop: BaseException, raised: type[BaseException]
) -> None:
    """run_check turns SIGTERM/Ctrl-C into an 'interrupted' report; the loop must still stop
    (within the pod's grace period) and keep the last complete report published."""
    published: list[CheckReport] = []
    agent, _, out = make_agent(tmp_path, published.append, log_format="json")
    agent.step()
    agent.runner.pulls[SRC] = stop
    agent.settings = dataclasses.replace(agent.settings, interval=0.0)  # due at every step
    with pytest.raises(raised):
        agent.run_forever(max_cycles=3)
    assert len(published) == 1  # the complete report from the first cycle only
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [event["event"] for event in events] == ["check", "check-interrupted"]
    assert events[1]["signal"] == ("SIGTERM" if raised is Terminated else "SIGINT")


def test_an_unusable_checks_file_is_reported_and_logged_once_per_check(tmp_path: Path) -> None:
    published: list[CheckReport] = []
    checks_file = tmp_path / "images.txt"
    checks_file.write_text(f"{SRC}\n{SRC}  # method=teleport\n")
    agent, clock, out = make_agent(
        tmp_path, published.append, images=(), images_file=checks_file, log_format="json"
    )
    agent.step()
    for _ in range(3):  # polls with nothing changed: no new check, no new log line
        clock.now += 30
        assert agent.step() is None
    (report,) = published
    (finding,) = [f for f in report.findings if f.code == "checks-file-invalid"]
    assert finding.severity == "error" and "images.txt" in finding.message
    assert "teleport" in finding.message and ":2" in finding.message
    assert report.verdict == "error"
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["images-file-invalid", "check"]


def test_the_heartbeat_stays_fresh_during_a_long_check(tmp_path: Path) -> None:
    """The liveness probe (agent health --max-age) must not kill a check that is slowly
    working through images whose pulls each run up to --timeout."""
    images = tuple(SRC.replace("@", f"-{n}@") for n in range(4))
    agent, clock, _ = make_agent(tmp_path, lambda report: None, images=images)
    slow = agent.runner.pulls[SRC]

    def pull_taking_300s(reference: str, *, on_stderr_line: Any = None) -> Any:
        clock.sleep(300)  # a pull hanging until --timeout
        return slow

    agent.runner.pull = pull_taking_300s
    beats: list[float] = []
    agent.heartbeat = lambda: beats.append(clock.now)  # type: ignore[method-assign]
    agent.step()
    gaps = [later - earlier for earlier, later in zip(beats, beats[1:])]
    assert len(beats) >= 5 and max(gaps) <= 300


def test_with_cycles_a_report_that_failed_to_publish_is_retried_before_leaving(
    tmp_path: Path,
) -> None:
    attempts: list[float] = []
    published: list[CheckReport] = []

    def flaky(report: CheckReport) -> None:
        attempts.append(clock.now)
        if len(attempts) < 3:
            raise AgentError("503 ServiceUnavailable")
        published.append(report)

    agent, clock, out = make_agent(tmp_path, flaky, log_format="json")
    agent.run_forever(max_cycles=1)
    assert len(published) == 1 and agent.publisher.pending is None
    assert attempts[1] > attempts[0] and attempts[2] > attempts[1]  # with its backoff
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["check", "published"]


def test_with_cycles_the_loop_gives_up_publishing_after_its_patience(tmp_path: Path) -> None:
    def down(report: CheckReport) -> None:
        raise AgentError("connection refused")

    agent, clock, _ = make_agent(tmp_path, down)
    started = clock.now
    agent.run_forever(max_cycles=1, patience=600.0)
    assert agent.publisher.pending is not None
    assert 600.0 <= clock.now - started <= 600.0 + agent.settings.poll


def test_a_change_to_roots_own_registries_files_triggers_a_check(tmp_path: Path) -> None:
    """registries.load reads /root/.config/containers too (podman runs as root): a change
    there changes the effective configuration and must not wait for the interval."""
    agent, clock, out = make_agent(tmp_path, lambda report: None, log_format="json")
    agent.step()
    user_drop_ins = tmp_path / "host/root/.config/containers/registries.conf.d"
    user_drop_ins.mkdir(parents=True)
    (user_drop_ins / "50-extra.conf").write_text(
        '[[registry]]\nlocation = "extra.example.com/team"\n\n'
        '[[registry.mirror]]\nlocation = "mirror.example.net/team"\n'
    )
    clock.now += 30
    assert agent.step() is not None
    reasons = [json.loads(line).get("reason") for line in out.getvalue().splitlines()]
    assert reasons == ["start", "registries.conf changed"]


def test_a_fifo_or_binary_checks_file_is_a_finding_not_a_hang(tmp_path: Path) -> None:
    """Issue 10 §1: the checks file comes from a ConfigMap anyone with edit rights steers."""
    published: list[CheckReport] = []
    fifo = tmp_path / "images.txt"
    os.mkfifo(fifo)
    agent, _, out = make_agent(tmp_path, published.append, images_file=fifo)
    report = agent.step()
    assert report is not None and published
    codes = [finding.code for finding in published[-1].findings]
    assert "checks-file-invalid" in codes
    assert "FIFO" in " ".join(f.message for f in published[-1].findings)
    assert "images-file-invalid" in out.getvalue()


def test_reports_and_log_lines_go_through_the_node_redactor(tmp_path: Path) -> None:
    from agent.pull.log.redact import Redactor

    published: list[CheckReport] = []
    agent, _, out = make_agent(tmp_path, published.append)
    # stand-ins for the node's secrets: a text of the mirror's error, the node's name
    agent.redact = Redactor.of(["connection refused", "node-1"])
    agent.step()
    (attempt, *_) = published[-1].images[0].attempts
    assert attempt.reason == "connection-refused" and attempt.message
    text = json.dumps(published[-1].to_json())
    assert "connection refused" not in text and "REDACTED" in attempt.message
    assert "node-1" not in out.getvalue()


def test_log_lines_in_text_format_escape_control_characters(tmp_path: Path) -> None:
    agent, _, out = make_agent(tmp_path, lambda report: None, log_format="text")
    agent.log_line({"event": "images-file-invalid", "error": "line 1: 'a\x1b]0;x\x07'"})
    assert "\x1b" not in out.getvalue() and "\\x1b]0;x\\x07" in out.getvalue()
