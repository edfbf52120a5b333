"""What the items are evaluated over (pure): the snapshot of the cluster, and for
pre-upgrade what the run established before (the target, the mirror rules rendered, the
release check it requested and each node's answer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from agent.checklist.compare import Coverage, coverage
from agent.checklist.items.release_resolves_through_mirror import NodeRelease
from agent.checklist.mirrors import Rendering
from agent.checklist.model import Unavailable
from agent.checklist.snapshot import Snapshot
from agent.checklist.target import Target
from agent.checklist.version import Version


@dataclass(frozen=True)
class Facts:
    """What every item may read: an item in both checklists reads only this."""

    snapshot: Snapshot


@dataclass(frozen=True)
class PreUpgradeFacts(Facts):
    target: Target
    version: Version
    rendering: Optional[Rendering]  # None: the mirror sets could not be read
    release_coverage: Optional[Coverage]  # the release repository's, by the rendering
    releases: Sequence[NodeRelease]  # node_releases(): item 1 judges them, item 8 uses them
    since: Optional[str]  # when the release check was requested (None: it was not)
    wait_note: Optional[str] = None  # the wait for reports timed out
    write_problem: Optional[Unavailable] = None  # why the release check was not requested

    @property
    def payload_coverage(self) -> Optional[Coverage]:
        """The payload repository's, by the rendering (None: unknown or not rendered)."""
        if self.rendering is None or not self.target.payload_repository:
            return None
        return coverage(self.rendering.config, self.target.payload_repository, self.target.digest)

    @property
    def payload_mirrors(self) -> tuple[str, ...]:
        found = self.payload_coverage
        return found.mirrors if found is not None and found.covered else ()


@dataclass(frozen=True)
class PostUpgradeFacts(Facts):
    target: Optional[Target] = None  # --to-image, when given
    now: Optional[datetime] = None  # the run's time: a report dated after it is not fresh
