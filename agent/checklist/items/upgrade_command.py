"""Pre-upgrade item 8: the upgrade command. Its command is the step itself, not a fix.

With ImageContentSourcePolicy/ImageDigestMirrorSet rules, the OpenShift procedure for
disconnected updates lets ``--to-image`` name the release by its canonical source pull spec
(``quay.io/openshift-release-dev/ocp-release@sha256:…``): every node then resolves it
through its mirror rules, with their fallback across every mirror. That is the command
when the rules cover the release repository (item 2) and the nodes resolved it through a
mirror (item 1's classification). A mirror pull spec pins the update to one mirror: it is
offered only as an alternative, only for a mirror that served the release on the nodes and
failed on none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Optional

from agent.checklist.compare import Coverage
from agent.checklist.items.common import listed, outcome
from agent.checklist.items.release_resolves_through_mirror import NodeRelease, mirror_repository
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome
from agent.checklist.target import Target

UPGRADE = "oc adm upgrade --allow-explicit-upgrade --to-image"


def upgrade_command(pull_spec: str) -> str:
    return f"{UPGRADE} {pull_spec}"


def _alternatives(releases: Sequence[NodeRelease], digest: str) -> list[dict[str, Any]]:
    """Mirrors that served the release on some node and failed on none, most used first."""
    failed = {mirror for release in releases for mirror in release.failed_mirrors}
    served = Counter(
        mirror_repository(r.served_by) for r in releases if r.through_mirror and r.served_by
    )
    ranked = sorted(served.items(), key=lambda pair: (-pair[1], pair[0]))
    return [
        {"mirror": mirror, "nodes": count, "command": upgrade_command(f"{mirror}@{digest}")}
        for mirror, count in ranked
        if mirror not in failed
    ]


def upgrade_command_item(
    releases: Sequence[NodeRelease],
    target: Target,
    release_coverage: Optional[Coverage],
    payload_coverage: Optional[Coverage] = None,
) -> Outcome:
    through = [r for r in releases if r.through_mirror]
    broken = [r.node for r in releases if r.state in ("failed", "source")]
    missing = [r.node for r in releases if r.state == "missing"]
    alternatives = _alternatives(releases, target.digest)
    details: dict[str, Any] = {
        "command": None,
        "pullSpec": None,
        "mirror": None,  # the mirror the command pins, when it names one
        "alternatives": alternatives,
    }
    if not through:
        return outcome(
            FAIL,
            "no node has resolved the release through a mirror yet: fix items 1 and 2 first; "
            "the command is given once the nodes do",
            details=details,
        )
    if broken:
        return outcome(
            FAIL,
            f"{len(broken)} node(s) did not resolve the release through a mirror: an update "
            "now would stall on them; fix items 1 and 2 first",
            [f"not through a mirror: {listed(broken)} (item 1)"],
            details=details,
        )
    evidence = []
    covered = release_coverage is not None and release_coverage.covered
    if covered and release_coverage is not None:
        pull_spec = target.source_reference
        evidence.append(
            f"the mirror rules send digest pulls of {target.source_repository} to "
            f"{len(release_coverage.mirrors)} mirror(s) (item 2) and {len(through)} of "
            f"{len(releases)} expected nodes resolved the release through them (item 1): the "
            "source pull spec keeps every node's fallback across the mirrors"
        )
        for alternative in alternatives:
            evidence.append(
                f"alternative, pinned to one mirror (no fallback to the others): "
                f"{alternative['command']} (served the release on {alternative['nodes']} "
                "node(s), failed on none)"
            )
    elif alternatives:
        pull_spec = f"{alternatives[0]['mirror']}@{target.digest}"
        details["mirror"] = alternatives[0]["mirror"]
        evidence.append(
            f"the mirror rules (item 2) do not cover {target.source_repository}: the command "
            f"names the mirror that served the release on {alternatives[0]['nodes']} node(s) "
            "and failed on none"
        )
    else:
        return outcome(
            FAIL,
            "the mirror rules do not cover the release repository, and every mirror that served "
            "it failed on some node: fix items 1 and 2 first",
            details=details,
        )
    verdict: ItemVerdict = PASS if covered else WARN
    if missing:
        verdict = WARN
        evidence.append(f"not confirmed (no fresh report): {listed(missing)} (item 1)")
    if payload_coverage is not None and not payload_coverage.covered:
        verdict = WARN
        evidence.append(
            f"the payload repository {payload_coverage.repository} is not covered (item 2): "
            "the update would pull its images from the source"
        )
    command = upgrade_command(pull_spec)
    details.update(command=command, pullSpec=pull_spec)
    return outcome(
        verdict, "run this once every other item passes", evidence, [command], details=details
    )
