"""Post-upgrade item 5: the release checks pre-upgrade added are gone from the checks ConfigMap."""

from __future__ import annotations

from agent.checklist.items.checks_cleaned_up import checks_cleanup_item
from agent.checklist.model import PASS, WARN
from tests.unit.checklist.factories import (
    DIGEST,
    NS,
    SINCE,
    TARGET,
    cluster_version,
    forbidden,
    healthy_snapshot,
)


def test_checks_cleanup_item() -> None:
    clean = healthy_snapshot(checks={"data": {"images.txt": f"{TARGET}\n"}})
    assert checks_cleanup_item(clean).verdict == PASS
    line = f"{TARGET}  # method=manifest requested={SINCE}"
    left = checks_cleanup_item(healthy_snapshot(checks={"data": {"checklist.txt": line + "\n"}}))
    assert left.verdict == WARN and left.evidence == (line,)
    assert left.remediation == (
        f"agent checklist cleanup -n {NS}",
        f"oc patch configmap mirror-agent-checks -n {NS} --type=json "
        '-p \'[{"op":"remove","path":"/data/checklist.txt"}]\'',
    )
    assert (
        checks_cleanup_item(healthy_snapshot(checks=forbidden("get", "configmaps", NS))).verdict
        == WARN
    )


def test_checks_cleanup_item_finds_the_release_line_added_by_hand() -> None:
    """When pre-upgrade could not write, it asked for the release in images.txt: after the
    update that line must go too (every node keeps re-checking it)."""
    updated = cluster_version(version="4.15.3", image=TARGET)
    by_hand = f"{TARGET}  # method=manifest"
    checks = {"data": {"images.txt": f"quay.io/team/app@{DIGEST}\n{by_hand}\n"}}
    item = checks_cleanup_item(healthy_snapshot(checks=checks, cluster_version=updated))
    assert item.verdict == WARN and item.evidence == (by_hand,)
    assert item.remediation == (
        f"oc edit configmap mirror-agent-checks -n {NS}   # remove from data.images.txt: {by_hand}",
    )
    plain = {"data": {"images.txt": f"{TARGET}\n"}}  # a pull check of the admin's own
    assert (
        checks_cleanup_item(healthy_snapshot(checks=plain, cluster_version=updated)).verdict == PASS
    )
