"""``--probe-on-nodes``: the DaemonSet reads ``plan.txt``; the nodes' answers, combined."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any, Optional

from agent.checklist.snapshot import NodeReport, Reports
from agent.commands.daemon import Agent, Publisher, RunSettings
from agent.plan.nodes import node_answers, plan_lines
from tests.unit.checklist.factories import release_image
from tests.unit.checklist.factories import report_configmap as report_cm

NEW = "new.example/ocp@sha256:" + "1" * 64
OTHER = "new.example/other@sha256:" + "2" * 64


def agent_reading(checks: Path) -> Agent:
    return Agent(
        RunSettings(
            node="n", reports_namespace="ns", host_root=checks, images_file=checks / "images.txt"
        ),
        runner=None,  # type: ignore[arg-type]
        load=lambda compat: None,  # type: ignore[arg-type,return-value]
        publisher=Publisher(lambda report: None, clock=lambda: 0.0),
        sleep=lambda s: None,
        now=lambda: "2030-01-01T10:00:00Z",
        out=io.StringIO(),
        rng=random.Random(1),
    )


def test_the_daemon_reads_plan_txt_and_hashes_as_before_without_it(tmp_path: Path) -> None:
    (tmp_path / "images.txt").write_text("q.io/a@sha256:" + "3" * 64 + "\n")
    agent = agent_reading(tmp_path)
    images, alone = agent.images()
    assert alone == hashlib.sha256((tmp_path / "images.txt").read_bytes()).hexdigest()
    (tmp_path / "plan.txt").write_text(plan_lines([NEW, NEW], "2030-01-01T10:00:00Z"))
    images, with_plan = agent.images()
    assert images[1:] == [NEW] and agent.manifest_images == (NEW,)
    assert with_plan != alone
    (tmp_path / "plan.txt").write_text("")  # the key removed again
    assert agent.images()[1] == alone


def served(location: str) -> dict[str, Any]:
    return release_image(image=location, served_by=location, kind="source", verdict="warn")


def lacking(location: str, reason: str = "manifest-unknown") -> dict[str, Any]:
    return release_image(
        image=location,
        served_by=None,
        kind=None,
        verdict="fail",
        attempts=[(location, "source", "failed", reason)],
    )


def reports(**by_node: list[dict[str, Any]]) -> Reports:
    return Reports.of(report_cm(node, images=images) for node, images in by_node.items())


def answers(found: Reports, expected: list[str], fresh: Optional[set[str]] = None) -> list[Any]:
    def is_fresh(report: NodeReport) -> bool:
        return fresh is None or report.node in fresh

    targets = [("img-1", NEW, False), ("img-2", OTHER, False)]
    return [(r.outcome, r.message) for r in node_answers(targets, found, expected, is_fresh)]


def test_every_node_served() -> None:
    found = reports(a=[served(NEW), served(OTHER)], b=[served(NEW), served(OTHER)])
    assert answers(found, ["a", "b"]) == [
        ("present", "served on 2 node(s)"),
        ("present", "served on 2 node(s)"),
    ]


def test_one_node_lacking_the_digest_makes_it_missing() -> None:
    found = reports(a=[served(NEW), lacking(OTHER, "dns")], b=[lacking(NEW), served(OTHER)])
    assert answers(found, ["a", "b"]) == [
        ("missing", "b: manifest-unknown"),
        ("error", "a: dns"),
    ]


def test_nodes_that_did_not_answer_are_counted() -> None:
    found = reports(a=[served(NEW), served(OTHER)], b=[served(NEW), served(OTHER)])
    assert answers(found, ["a", "b", "c"], fresh={"a"})[0] == (
        "present",
        "served on 1 node(s) (2 of 3 nodes did not answer)",
    )
    assert answers(found, ["c"])[0] == ("error", "no node answered (1 of 1 nodes did not answer)")
