"""The checklist items, in order: ONE registry of (id, title, check) per checklist.

The runner (agent/checklist/run.py) evaluates it, the renderers (agent/output/checklist.py)
read it, and the README's item tables follow it (a test holds them to it). An item's number
is its position in its checklist; ``pools-and-nodes`` is one entry in both. Each check is a
pure function of what the cluster returned, in its own module of this package (shared
helpers in ``common``); its ``Outcome`` becomes an ``Item`` with the entry's id, number and
title. A part that could not be read makes the items that need it say which permission is
missing; the other items are unaffected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, TypeVar

from agent.checklist.items.checks_cleaned_up import checks_cleanup_item
from agent.checklist.items.cluster_version import cluster_version_item
from agent.checklist.items.drain_blockers import drain_blockers_item
from agent.checklist.items.facts import Facts, PostUpgradeFacts, PreUpgradeFacts
from agent.checklist.items.machine_health_checks import (
    health_checks_paused_item,
    health_checks_resumed_item,
)
from agent.checklist.items.mirror_rules import mirror_rules_item
from agent.checklist.items.node_reports import node_reports_item
from agent.checklist.items.pools_and_nodes import pools_and_nodes_item
from agent.checklist.items.registry_sources import registry_sources_item
from agent.checklist.items.release_resolves_through_mirror import release_item
from agent.checklist.items.release_signature import signature_item
from agent.checklist.items.upgrade_command import upgrade_command_item
from agent.checklist.model import Item, Outcome

FactsT = TypeVar("FactsT", contravariant=True)
T = TypeVar("T")


@dataclass(frozen=True)
class ItemSpec(Generic[FactsT]):
    id: str  # stable identifier, documented
    title: str
    check: Callable[[FactsT], Outcome]
    commands_are_fixes: bool = True  # False: its commands are the step itself (item 8)

    def evaluate(self, number: int, facts: FactsT) -> Item:
        return Item.of(self.id, number, self.title, self.check(facts))


POOLS_AND_NODES: ItemSpec[Facts] = ItemSpec(
    "pools-and-nodes",
    "MachineConfigPools updated and not degraded; nodes Ready",
    lambda facts: pools_and_nodes_item(facts.snapshot),
)

PRE_UPGRADE: tuple[ItemSpec[PreUpgradeFacts], ...] = (
    ItemSpec(
        "release-resolves-through-mirror",
        "Every node resolves the release image by digest through a mirror",
        lambda facts: release_item(
            facts.snapshot,
            facts.target,
            facts.releases,
            since=facts.since,
            payload_mirrors=facts.payload_mirrors,
            wait_note=facts.wait_note,
            write_problem=facts.write_problem,
        ),
    ),
    ItemSpec(
        "mirror-rules",
        "Mirror rules cover the release and payload; every node applies them",
        lambda facts: mirror_rules_item(
            facts.snapshot, facts.target, facts.rendering, facts.version, facts.releases
        ),
    ),
    ItemSpec(
        "release-signature",
        "The release signature ConfigMap exists",
        lambda facts: signature_item(facts.snapshot, facts.target),
    ),
    ItemSpec(
        "machine-health-checks-paused",
        "Every MachineHealthCheck is paused",
        lambda facts: health_checks_paused_item(facts.snapshot),
    ),
    POOLS_AND_NODES,
    ItemSpec(
        "drain-blockers",
        "No PodDisruptionBudget blocks node drains",
        lambda facts: drain_blockers_item(facts.snapshot),
    ),
    ItemSpec(
        "registry-sources",
        "Every node applies image.config's insecure and blocked registries",
        lambda facts: registry_sources_item(
            facts.snapshot,
            facts.rendering,
            [c for c in (facts.release_coverage, facts.payload_coverage) if c is not None],
        ),
    ),
    ItemSpec(
        "upgrade-command",
        "The upgrade command",
        lambda facts: upgrade_command_item(
            facts.releases, facts.target, facts.release_coverage, facts.payload_coverage
        ),
        commands_are_fixes=False,
    ),
)

POST_UPGRADE: tuple[ItemSpec[PostUpgradeFacts], ...] = (
    ItemSpec(
        "cluster-version",
        "ClusterVersion reached the desired release",
        lambda facts: cluster_version_item(facts.snapshot, facts.target),
    ),
    POOLS_AND_NODES,
    ItemSpec(
        "node-reports",
        "Every node re-checked after its last rollout; all pass; no source used",
        lambda facts: node_reports_item(facts.snapshot, now=facts.now),
    ),
    ItemSpec(
        "machine-health-checks-resumed",
        "No MachineHealthCheck is still paused",
        lambda facts: health_checks_resumed_item(facts.snapshot),
    ),
    ItemSpec(
        "checks-cleaned-up",
        "The release checks added by pre-upgrade are removed",
        lambda facts: checks_cleanup_item(facts.snapshot),
    ),
)

#: Each checklist by its name (``Checklist.kind``).
CHECKLISTS: Mapping[str, Sequence[ItemSpec[Any]]] = {
    "pre-upgrade": PRE_UPGRADE,
    "post-upgrade": POST_UPGRADE,
}


def evaluate(checklist: Sequence[ItemSpec[T]], facts: T) -> tuple[Item, ...]:
    """Every item of the checklist, numbered in order."""
    return tuple(spec.evaluate(number, facts) for number, spec in enumerate(checklist, 1))


def spec_of(item_id: str) -> Optional[ItemSpec[Any]]:
    """The registry entry of an item id (None for an id no checklist has)."""
    return next(
        (spec for specs in CHECKLISTS.values() for spec in specs if spec.id == item_id), None
    )
