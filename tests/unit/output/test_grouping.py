"""Grouping nodes with the same result (agent/output/grouping.py)."""

from __future__ import annotations

from agent.collect import NodeRow
from agent.output.grouping import distinct_findings, group_nodes, per_image, served_location

IMAGE = "quay.io/team/app@sha256:" + "ab" * 32
MIRROR = "mirror.example/team/app@sha256:" + "ab" * 32


def row(name: str, **fields: object) -> NodeRow:
    values: dict[str, object] = {"status": "reported", "verdict": "pass", "pool": "worker"}
    values.update(fields)
    return NodeRow(node=name, **values)  # type: ignore[arg-type]


def test_nodes_group_by_state_and_notes_whatever_their_age_or_sources() -> None:
    rows = [
        row("a", served=[(IMAGE, MIRROR, "mirror", "pass")]),
        row("b", served=[(IMAGE, MIRROR, "mirror", "pass")]),
        # Another source, the same result: one group (the image table counts the sources).
        row(
            "g",
            served=[(IMAGE, "backup.example/team/app@" + IMAGE.split("@")[1], "mirror", "pass")],
        ),
        row("c", status="stale", stale_reason="checked 7h2m ago (older than --max-age)"),
        row("d", status="stale", stale_reason="checked 9h40m ago (older than --max-age)"),
        row("e", verdict="fail", findings=["not-served: no source served the image"]),
        row("f", status="missing", verdict=None),
    ]
    groups = group_nodes(rows)
    assert [(g.state, g.names) for g in groups] == [
        ("FAIL", ["e"]),
        ("MISSING", ["f"]),
        ("PASS (stale)", ["c", "d"]),
        ("PASS", ["a", "b", "g"]),
    ]
    assert groups[2].notes == ("stale: checked … ago (older than --max-age)",)


def test_findings_once_with_their_nodes_and_images_per_node_count() -> None:
    rows = [
        row("a", verdict="warn", findings=["x: slow"], served=[(IMAGE, MIRROR, "mirror", "warn")]),
        row("b", verdict="fail", findings=["x: slow", "y: gone"]),
        row("c", status="orphaned", served=[(IMAGE, MIRROR, "mirror", "pass")]),
    ]
    found = {f.text: (f.worst, f.nodes) for f in distinct_findings(rows)}
    assert found == {"x: slow": ("fail", ["a", "b"]), "y: gone": ("fail", ["b"])}
    (line,) = per_image(rows)  # the orphaned report's node no longer exists: not counted
    assert dict(line.verdicts) == {"warn": 1}
    assert dict(line.served) == {(MIRROR, "mirror"): 1}
    assert served_location(IMAGE, MIRROR) == "mirror.example/team/app"
    assert served_location(IMAGE, "other@sha256:" + "cd" * 32).startswith("other@sha256:cd")
