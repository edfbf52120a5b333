"""Pre-upgrade item 7: the upgrade command, through the mirror that served the release on
most nodes (item 1's classification). Its command is the step itself, not a fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Optional

from agent.checklist.compare import Coverage
from agent.checklist.items.common import listed, outcome
from agent.checklist.items.release_resolves_through_mirror import NodeRelease, mirror_repository
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome
from agent.checklist.target import Target
from agent.report import worst


def upgrade_command_item(
    releases: Sequence[NodeRelease], target: Target, release_coverage: Optional[Coverage]
) -> Outcome:
    served = Counter(
        mirror_repository(r.served_by) for r in releases if r.through_mirror and r.served_by
    )
    if served:
        top = max(served.values())
        mirror = sorted(m for m, count in served.items() if count == top)[0]
        command = f"oc adm upgrade --allow-explicit-upgrade --to-image {mirror}@{target.digest}"
        evidence = [
            f"{count} node(s) were served the release by {location}"
            for location, count in sorted(served.items())
        ]
        not_through = [r.node for r in releases if not r.through_mirror]
        verdicts: list[ItemVerdict] = [PASS]
        if len(served) > 1:
            verdicts.append(WARN)
            evidence.append(
                f"nodes used different mirrors; the command uses the most used, {mirror}"
            )
        if not_through:
            verdicts.append(WARN)
            evidence.append(f"not through a mirror yet: {listed(not_through)} (item 1)")
        return outcome(
            worst(verdicts),
            "run this once every other item passes",
            evidence,
            [command],
            details={"command": command, "mirror": mirror},
        )
    if release_coverage is not None and release_coverage.mirrors:
        mirror = release_coverage.mirrors[0]
        command = f"oc adm upgrade --allow-explicit-upgrade --to-image {mirror}@{target.digest}"
        return outcome(
            FAIL,
            "no node has fetched the release through a mirror yet; the command uses the first "
            "mirror the rules name",
            [f"first mirror for {release_coverage.repository}: {mirror}"],
            [command],
            details={"command": command, "mirror": mirror},
        )
    return outcome(
        FAIL,
        "no mirror serves the release: fix items 1 and 2 first",
        details={"command": None, "mirror": None},
    )
