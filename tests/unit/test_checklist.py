"""The checklist's JSON, renderers, wait loop and layering; the agent side of the release check
(``# method=manifest`` lines, ``checklist.txt``); the report's effective entries."""

from __future__ import annotations

import ast
import io
import json
import random
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import pytest

from agent import registries
from agent.checklist.model import (
    FAIL,
    PASS,
    WARN,
    Change,
    Checklist,
    Item,
    Permission,
    Unavailable,
)
from agent.checklist.snapshot import Reports
from agent.checklist.wait import FetchReports, WaitResult, wait_for_reports
from agent.cli.app import main
from agent.commands.check import CheckOptions
from agent.commands.checks_file import read_image_lines, read_images_file
from agent.commands.daemon import Agent, Publisher, RunSettings
from agent.errors import AgentError
from agent.kube.publish import CONFIGMAP_LIMIT, fit_report, report_configmap
from agent.output.checklist import junit, markdown, render, table
from agent.report import CheckReport, ImageResult
from agent.schema import CHECKLIST_SCHEMA_VERSION
from tests.support.clock import FakeClock
from tests.unit.checklist.factories import report_configmap as report_cm
from tests.unit.commands.fakes import LOGS, SRC, FakeRunner, check, host_with, result

AGENT = Path(__file__).resolve().parents[2] / "agent"
SKOPEO_LOG = LOGS / "skopeo-inspect-raw-mirror-missing-digest.log"


def sample(verdicts: tuple[str, ...] = (PASS, WARN, FAIL)) -> Checklist:
    items = tuple(
        Item(
            id=f"item-{number}",
            number=number,
            title=f"Item number {number}",
            verdict=verdict,
            summary=f"summary {number}",
            evidence=(f"evidence {number}|a", f"more {number}"),
            remediation=(f"oc fix {number}",) if verdict != PASS else (),
            missing_permissions=(Permission("list", "nodes"),) if verdict == FAIL else (),
            details={"n": number},
        )
        for number, verdict in enumerate(verdicts, 1)
    )
    return Checklist(
        kind="pre-upgrade",
        generated_at="2030-01-01T10:00:00Z",
        items=items,
        cluster={
            "server": "https://api.example:6443",
            "ocpVersion": "4.14.8",
            "ocpVersionFrom": "ClusterVersion",
        },
        target={
            "image": "quay.io/openshift-release-dev/ocp-release@sha256:" + "1" * 64,
            "sourceRepository": "quay.io/openshift-release-dev/ocp-release",
            "payloadRepository": "quay.io/openshift-release-dev/ocp-v4.0-art-dev",
        },
        changes=(
            Change(
                "applied",
                "mirror-agent",
                "mirror-agent-checks",
                "checklist.txt",
                "mirror-agent-checklist",
                ("line",),
            ),
        ),
        agent_version="0.1.0",
    )


# --- model and renderers -------------------------------------------------------------------


def test_json_document() -> None:
    document = sample().to_json()
    assert document["schemaVersion"] == CHECKLIST_SCHEMA_VERSION == 1
    assert (document["checklist"], document["verdict"]) == ("pre-upgrade", FAIL)
    assert document["summary"] == {"pass": 1, "warn": 1, "fail": 1}
    assert document["readOnly"] is False
    assert document["changes"][0] == {
        "action": "applied",
        "resource": "configmaps",
        "namespace": "mirror-agent",
        "name": "mirror-agent-checks",
        "key": "checklist.txt",
        "fieldManager": "mirror-agent-checklist",
        "lines": ["line"],
        "error": None,
    }
    assert set(document["items"][2]) == {
        "id",
        "number",
        "title",
        "verdict",
        "summary",
        "evidence",
        "remediation",
        "missingPermissions",
        "details",
    }
    assert document["items"][2]["missingPermissions"] == [
        {"verb": "list", "resource": "nodes", "namespace": None}
    ]
    assert json.loads(render(sample(), "json")) == {**document, "strict": False, "failed": True}
    # with --strict a warning fails: the JSON says so as the exit code and the table do
    warned = json.loads(render(sample((PASS, WARN)), "json", strict=True))
    assert (warned["verdict"], warned["strict"], warned["failed"]) == (WARN, True, True)
    assert json.loads(render(sample((PASS, WARN)), "json"))["failed"] is False


def test_exit_semantics_and_strict() -> None:
    assert sample((PASS, PASS)).failed(strict=True) is False
    assert sample((PASS, WARN)).failed(strict=False) is False
    assert sample((PASS, WARN)).failed(strict=True) is True
    assert sample((FAIL,)).failed(strict=False) is True
    assert Permission("get", "x", "ns").text() == "missing permission: get x (in ns)"


def test_table_markdown_and_junit() -> None:
    text = table(sample())
    assert "changes:      applied data key checklist.txt of configmap mirror-agent/" in text
    assert "3. Item number 3: FAIL" in text and "     $ oc fix 3" in text
    assert "   ! missing permission: list nodes" in text
    assert text.rstrip().endswith("overall: FAIL (1 pass, 1 warn, 1 fail)")
    assert (
        table(sample((PASS, WARN)), strict=True)
        .rstrip()
        .endswith(
            "overall: FAIL (1 pass, 1 warn, 0 fail) — failed by --strict: warnings fail in "
            "strict mode"
        )
    )
    md = markdown(sample())
    assert md.startswith("### mirror-agent checklist: pre-upgrade")
    assert "| 3 | Item number 3 | **FAIL** | summary 3 |" in md
    assert "- evidence 1|a" in md and "```sh\noc fix 3\n```" in md
    suite = ElementTree.fromstring(junit(sample()))
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    assert ElementTree.fromstring(junit(sample(), strict=True)).get("failures") == "2"
    cases = suite.findall("testcase")
    assert cases[2].find("failure") is not None and cases[0].find("system-out") is not None


def test_read_only_when_the_write_failed() -> None:
    failed = replace(sample(), changes=(Change("applied", "ns", "cm", "k", "m", (), error="403"),))
    assert failed.read_only is True
    assert (
        replace(sample(), changes=()).changes_text().startswith("none: this checklist only reads")
    )


# --- the wait --------------------------------------------------------------------------------


def wait_on(
    clock: FakeClock,
    fetch: FetchReports,
    nodes: list[str],
    timeout: float,
    poll: float,
    **options: Any,
) -> WaitResult:
    """wait_for_reports on the fake clock, every report counting as fresh."""
    return wait_for_reports(
        fetch,
        nodes,
        lambda report: True,
        timeout=timeout,
        poll=poll,
        clock=clock,
        sleep=clock.sleep,
        **options,
    )


def test_wait_until_every_node_reported() -> None:
    clock = FakeClock()
    published: dict[str, dict[str, Any]] = {}
    asked: list[Optional[set[str]]] = []
    arrivals = {1: "a", 2: "b", 3: "c"}

    def fetch(nodes: Any) -> Reports:
        asked.append(None if nodes is None else set(nodes))
        arrived = arrivals.get(len(asked) - 1)
        if arrived:
            published[arrived] = report_cm(arrived)
        return Reports.of(cm for name, cm in published.items() if nodes is None or name in nodes)

    progress: list[tuple[int, int]] = []
    done = wait_on(
        clock,
        fetch,
        ["a", "b", "c"],
        600,
        15,
        progress=lambda n, total: progress.append((n, total)),
    )
    assert (done.timed_out, done.fresh, done.expected, done.seconds) == (False, 3, 3, 45.0)
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert asked == [None, {"a", "b", "c"}, {"b", "c"}, {"c"}]  # few left: read one by one
    assert isinstance(done.reports, Reports) and set(done.reports.by_node) == {"a", "b", "c"}


def test_wait_gives_up_and_a_node_that_never_reports_stays_missing() -> None:
    clock = FakeClock()
    done = wait_on(clock, lambda nodes: Reports.of([report_cm("a")]), ["a", "silent"], 60, 25)
    assert (done.timed_out, done.fresh, done.seconds) == (True, 1, 60.0)
    assert clock.slept == [25, 25, 10]
    seen = Reports.of([report_cm("a")])
    given = wait_on(clock, lambda nodes: Reports(), ["a"], 60, 5, initial=seen)
    assert given.reports is seen and not given.timed_out
    once = wait_on(clock, lambda nodes: Reports(), ["a"], 0, 5)
    assert once.timed_out and clock.slept == [25, 25, 10]
    denied = Unavailable("forbidden", Permission("list", "configmaps", "mirror-agent"))
    stopped = wait_on(clock, lambda nodes: denied, ["a"], 60, 5)
    assert stopped.reports is denied


# --- layering ---------------------------------------------------------------------------------

PURE = [
    "model",
    "mirror_sets",
    "mirrors",
    "compare",
    "snapshot",
    "target",
    "version",
    "wait",
    "run",
    *(f"items/{path.stem}" for path in sorted((AGENT / "checklist" / "items").glob("*.py"))),
]
IO = {"os", "subprocess", "socket", "shutil", "pathlib", "requests", "psutil", "tempfile", "typer"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_checklist_logic_does_no_io(module: str) -> None:
    imports = _imports(AGENT / "checklist" / f"{module}.py")
    assert not {name.split(".")[0] for name in imports} & IO
    kube = {name for name in imports if name.startswith("agent.kube")} - {"agent.kube.contract"}
    assert not kube, "fetching stays in fetch.py; the ConfigMap contract is pure"


def test_fetching_is_in_its_own_module() -> None:
    assert any(name.startswith("agent.kube") for name in _imports(AGENT / "checklist" / "fetch.py"))


# --- the agent side: # method=manifest and checklist.txt ------------------------------------


def test_image_lines_carry_a_method() -> None:
    text = f"# header\n{SRC}  # method=manifest requested=2030-01-01T10:00:00Z\nq.io/a@x # tag\n"
    assert read_image_lines(text, "f") == [(SRC, "manifest"), ("q.io/a@x", None)]
    assert read_images_file(text, "f") == [SRC, "q.io/a@x"]
    with pytest.raises(AgentError, match="f:1: method=fetch: use method=pull or method=manifest"):
        read_image_lines(f"{SRC} # method=fetch\n", "f")


def test_manifest_images_are_checked_with_skopeo(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(SKOPEO_LOG.read_text())})
    report = check(
        runner,
        host_with(tmp_path, "mirror-missing-digest"),
        CheckOptions((SRC,), manifest_images=(SRC,)),
    )
    assert [call[0] for call in runner.calls] == ["manifest"]
    assert report.images[0].served_by_kind == "mirror"
    # The report carries the node's effective entries, as Configuration.canonical() has them.
    loaded = registries.load(tmp_path / "host")
    assert (
        report.to_json()["registriesConf"]["effective"] == loaded.config.canonical()["registries"]
    )
    assert (
        CheckReport.from_json(report.to_json()).effective_registries == report.effective_registries
    )


def test_the_daemon_reads_checklist_txt_beside_the_images_file(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text(
        (LOGS / "registries" / "mirror-missing-digest.conf").read_text()
    )
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "images.txt").write_text("")
    published: list[CheckReport] = []
    runner = FakeRunner({SRC: result(SKOPEO_LOG.read_text())})
    agent = Agent(
        RunSettings(
            node="n",
            reports_namespace="ns",
            host_root=root,
            images_file=checks / "images.txt",
            jitter=0.0,
            poll=1.0,
        ),
        runner=runner,
        load=lambda compat: registries.load(root, compat=compat),
        publisher=Publisher(published.append, clock=lambda: 0.0),
        sleep=lambda s: None,
        now=lambda: "2030-01-01T10:00:00Z",
        out=io.StringIO(),
        rng=random.Random(1),
    )
    agent.step()
    assert published[-1].images == () and runner.calls == []
    (checks / "checklist.txt").write_text(f"{SRC}  # method=manifest requested=x\n")
    assert agent.due() == "checks file changed"
    agent.step()
    assert runner.calls == [("manifest", SRC, None)]
    assert [image.image for image in published[-1].images] == [SRC]


def test_fit_report_leaves_out_effective_entries_before_giving_up() -> None:
    big = [
        {
            "prefix": f"r{i}.example.com",
            "location": f"r{i}.example.com",
            "insecure": False,
            "blocked": False,
            "mirrorByDigestOnly": False,
            "mirrors": [
                {
                    "location": f"m{i}.example.com/" + "x" * 200,
                    "insecure": False,
                    "pullFromMirror": "",
                }
            ],
        }
        for i in range(4000)
    ]
    report = CheckReport(
        node="n",
        checked_at="2030-01-01T10:00:00Z",
        verdict="pass",
        images=(ImageResult(image=SRC, verdict="pass", log="l" * 200_000),),
        effective_registries=big,
    )
    configmap = report_configmap(report, namespace="mirror-agent", node=None)
    text = configmap["data"]["report.json"]
    assert len(text.encode()) < CONFIGMAP_LIMIT
    document = json.loads(text)
    assert document["registriesConf"]["effective"] is None
    assert document["registriesConf"]["effectiveOmitted"] is True
    assert document["verdict"] == "pass" and document["images"][0]["verdict"] == "pass"
    small = replace(report, effective_registries=big[:3])
    kept = json.loads(fit_report(small.to_json(), small))
    assert len(kept["registriesConf"]["effective"]) == 3
    assert "effectiveOmitted" not in kept["registriesConf"]


# --- command line: bad input is exit 2 before any request ----------------------------------

DIGESTED = "q.io/a@sha256:" + "1" * 64


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["pre-upgrade", "--to-image", "quay.io/openshift-release-dev/ocp-release:4.15.3"],
            "a release is updated to by digest",
        ),
        (["pre-upgrade", "--to-image", "not a reference"], "--to-image: invalid image reference"),
        (["pre-upgrade", "--to-image", "ocp-release@sha256:" + "1" * 64], "fully qualified"),
        (["pre-upgrade"], "Missing option '--to-image'"),
        (["pre-upgrade", "--to-image", DIGESTED, "--wait", "soon"], "--wait: invalid duration"),
        (["pre-upgrade", "--to-image", DIGESTED, "--ocp-version", "4"], "--ocp-version: not an"),
        (["pre-upgrade", "--to-image", DIGESTED, "-o", "yaml"], "Invalid value"),
        (["post-upgrade", "--to-image", "q.io/a:latest"], "a release is updated to by digest"),
        (["post-upgrade", "--ocp-version", "four"], "--ocp-version: not an OpenShift version"),
    ],
)
def test_bad_input_exits_2_before_any_request(
    argv: list[str], message: str, capsys: Any, tmp_path: Path
) -> None:
    # The kubeconfig does not exist: reaching it would be another error.
    assert main(["checklist", *argv, "--kubeconfig", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert message in err and "no kubeconfig found" not in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.cli import progress

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    bar = progress.ReportsBar()
    bar(1, 4)
    bar(4, 4)
    bar.clear()
    text = terminal.getvalue()
    assert (
        "\rwaiting for node reports [#######.......................] 1 of 4 nodes reported" in text
    )
    assert "[##############################] 4 of 4 nodes reported" in text
    assert text.endswith("\r")
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    quiet = progress.ReportsBar()
    quiet(1, 4)
    quiet.clear()
    assert pipe.getvalue() == ""


def test_the_variables_of_commands_are_explained_once_per_item() -> None:
    item = Item(
        "release-signature",
        3,
        "The release signature ConfigMap exists",
        FAIL,
        "none",
        remediation=('oc adm release mirror -a "$PULL_SECRET" --to="$MIRROR_REPOSITORY"',),
    )
    checklist = Checklist(kind="pre-upgrade", generated_at="2030-01-01T10:00:00Z", items=(item,))
    text = table(checklist)
    assert (
        "     set PULL_SECRET: a pull secret file with the credentials the command needs\n"
        "     set MIRROR_REPOSITORY: the repository the release was mirrored to (oc adm release "
        "mirror --to)\n"
    ) in text
    assert "- set PULL_SECRET: a pull secret file" in markdown(checklist)
