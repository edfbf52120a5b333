"""Pre-upgrade item 6: PodDisruptionBudgets that would block node drains (advisory)."""

from __future__ import annotations

from agent.checklist.items.drain_blockers import drain_blockers_item
from agent.checklist.model import WARN
from tests.unit.checklist.factories import budget, forbidden, healthy_snapshot


def test_drain_blockers() -> None:
    item = drain_blockers_item(
        healthy_snapshot(
            budgets=[
                budget("app", "web", allowed=0),
                budget("app", "ok", allowed=1),
                budget("app", "empty", allowed=0, expected=0),
            ]
        )
    )
    assert item.verdict == WARN
    assert item.evidence == (
        "app/web: minAvailable 2; 2 healthy of 2 expected; 0 disruptions allowed",
    )
    assert item.remediation[0].startswith("oc get pdb web -n app -o yaml")
    denied = drain_blockers_item(
        healthy_snapshot(budgets=forbidden("list", "poddisruptionbudgets.policy"))
    )
    assert denied.verdict == WARN and denied.missing_permissions
