"""Pre-upgrade item 7: the upgrade command, through the mirror that served the release."""

from __future__ import annotations

from agent.checklist.compare import coverage
from agent.checklist.items.release_resolves_through_mirror import node_releases
from agent.checklist.items.upgrade_command import upgrade_command_item
from agent.checklist.model import FAIL, PASS
from agent.checklist.snapshot import Reports
from tests.unit.checklist.factories import (
    DIGEST,
    MIRROR,
    RELEASE,
    SINCE,
    healthy_snapshot,
    rendered,
    target,
)


def test_upgrade_command_uses_the_mirror_that_served_the_release() -> None:
    snapshot = healthy_snapshot()
    releases = node_releases(snapshot, target(), since=SINCE, cutoff=None)
    item = upgrade_command_item(releases, target(), None)
    assert item.verdict == PASS
    assert item.remediation == (
        f"oc adm upgrade --allow-explicit-upgrade --to-image {MIRROR}@{DIGEST}",
    )
    nothing = healthy_snapshot(reports=Reports())
    releases = node_releases(nothing, target(), since=SINCE, cutoff=None)
    fallback = upgrade_command_item(
        releases, target(), coverage(rendered(nothing).config, RELEASE, DIGEST)
    )
    assert fallback.verdict == FAIL
    assert fallback.remediation == (
        f"oc adm upgrade --allow-explicit-upgrade --to-image {MIRROR}@{DIGEST}",
    )
    assert upgrade_command_item(releases, target(), None).remediation == ()
