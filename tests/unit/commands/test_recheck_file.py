"""A bad ``recheck.json`` in the checks folder (not UTF-8, nested, a megabyte id) is no
request: the images are still checked, one finding names the file, and the agent does not
check again at every poll."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.kube.publish import report_configmap
from agent.report import CheckReport
from tests.unit.commands.fakes import SRC
from tests.unit.commands.test_daemon import make_agent


def test_a_huge_recheck_id_is_no_request_and_the_report_is_published(tmp_path: Path) -> None:
    checks = tmp_path / "images.txt"
    checks.write_text(SRC + "\n")
    request = {"all": {"id": "i" * 1_046_000, "requestedAt": "x"}}
    (tmp_path / "recheck.json").write_text(json.dumps(request))
    reports: list[CheckReport] = []
    agent, _clock, _out = make_agent(tmp_path, reports.append, images_file=checks, images=())
    agent.step()
    (report,) = reports
    assert "recheck" not in report.extra
    assert report_configmap(report, namespace="ns", node=None)  # fits
    (finding,) = [f for f in report.findings if f.code == "recheck-invalid"]
    assert "recheck.json: 1 request(s) left out (all)" in finding.message


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfe{}", "not UTF-8 text: byte 0xff at line 1"),
        (b"[" * 100_000, "nested more than 100 levels deep"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_a_bad_recheck_file_is_no_request_said_once(
    tmp_path: Path, content: bytes, said: str
) -> None:
    checks = tmp_path / "images.txt"
    checks.write_text(SRC + "\n")
    (tmp_path / "recheck.json").write_bytes(content)
    published: list[CheckReport] = []
    agent, clock, out = make_agent(tmp_path, published.append, images_file=checks, images=())
    agent.step()
    (report,) = published
    assert [image.image for image in report.images] == [SRC]  # the images were checked
    assert report.verdict == "warn"  # as with a good recheck.json (the first mirror is down)
    (finding,) = [f for f in report.findings if f.code == "recheck-invalid"]
    assert finding.message.startswith(f"{tmp_path / 'recheck.json'}: ")
    assert said in finding.message
    for _ in range(10):  # five minutes of polls, an interval of an hour: nothing is due
        clock.now += 30
        agent.step()
    assert len(published) == 1
    assert out.getvalue().count("recheck-invalid") == 1
    (tmp_path / "recheck.json").write_text(
        json.dumps({"all": {"id": "ab12", "requestedAt": "2030-01-01T10:00:00Z"}})
    )
    clock.now += 30
    agent.step()  # fixed: a request, checked at once, and no finding about the file
    assert len(published) == 2 and published[-1].extra["recheck"] == {"all": "ab12"}
    assert not [f for f in published[-1].findings if f.code == "recheck-invalid"]
