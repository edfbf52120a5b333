"""The one registry of checklist items: what the runner evaluates, the renderers read and the
docs list (agent/checklist/items/__init__.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from agent.checklist.items import CHECKLISTS, POOLS_AND_NODES, POST_UPGRADE, PRE_UPGRADE, evaluate
from agent.checklist.items.facts import PostUpgradeFacts
from agent.checklist.model import PASS, WARN, Checklist, Item
from agent.output.checklist import table
from tests.unit.checklist.factories import (
    TARGET,
    cluster_version,
    health_check,
    healthy_snapshot,
    target,
)

PROJECT = Path(__file__).resolve().parents[4]


def test_each_item_is_listed_once() -> None:
    for specs in CHECKLISTS.values():
        assert len({spec.id for spec in specs}) == len(specs)
        assert len({spec.title for spec in specs}) == len(specs)
    # the item both checklists have is one entry, numbered by its place in each
    assert [PRE_UPGRADE.index(POOLS_AND_NODES), POST_UPGRADE.index(POOLS_AND_NODES)] == [4, 1]
    shared = {spec.id for spec in PRE_UPGRADE} & {spec.id for spec in POST_UPGRADE}
    assert shared == {POOLS_AND_NODES.id}


def test_items_are_numbered_and_named_as_registered() -> None:
    snapshot = healthy_snapshot(
        cluster_version=cluster_version(version="4.15.3", image=TARGET),
        health_checks=[health_check("workers", paused=False)],
    )
    items = evaluate(POST_UPGRADE, PostUpgradeFacts(snapshot, target()))
    assert [(item.number, item.id, item.title) for item in items] == [
        (number, spec.id, spec.title) for number, spec in enumerate(POST_UPGRADE, 1)
    ]
    assert all(item.verdict == PASS for item in items), [i.summary for i in items]


def _documented_tables() -> list[list[tuple[int, str]]]:
    """(number, id) of each row of the docs' item tables (header ``| # | id |``)."""
    tables: list[list[tuple[int, str]]] = []
    for page in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("**/*.md"))]:
        rows: Optional[list[tuple[int, str]]] = None
        for line in page.read_text().splitlines():
            if line.startswith("| # | id |"):
                rows = []
                tables.append(rows)
            elif rows is not None and line.startswith("|"):
                match = re.match(r"\| (\d+) \| `([a-z-]+)` \|", line)
                if match:
                    rows.append((int(match.group(1)), match.group(2)))
            else:
                rows = None
    return tables


def test_the_docs_list_the_registered_items_in_order() -> None:
    registered = [
        [(number, spec.id) for number, spec in enumerate(specs, 1)] for specs in CHECKLISTS.values()
    ]
    assert sorted(_documented_tables()) == sorted(registered)


def _one(item_id: str, verdict: str) -> Checklist:
    item = Item(item_id, 1, "title", verdict, "summary", remediation=("oc do it",))
    return Checklist(kind="pre-upgrade", generated_at="2030-01-01T10:00:00Z", items=(item,))


def test_the_renderer_asks_the_registry_whether_commands_are_fixes() -> None:
    assert "   fix:\n     $ oc do it" in table(_one("drain-blockers", WARN))
    # the upgrade command is the step itself, whatever its verdict
    assert "   run:\n     $ oc do it" in table(_one("upgrade-command", WARN))
    assert "   run:\n     $ oc do it" in table(_one("drain-blockers", PASS))
