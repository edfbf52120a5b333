"""Pre-upgrade item 8: the upgrade command: the source pull spec when the rules cover the
release and the nodes resolved it through them; a mirror only as an alternative, only one
that served the release and failed on no node."""

from __future__ import annotations

from agent.checklist.compare import coverage
from agent.checklist.items.release_resolves_through_mirror import NodeRelease, node_releases
from agent.checklist.items.upgrade_command import upgrade_command_item
from agent.checklist.model import FAIL, PASS, WARN
from agent.checklist.snapshot import Reports
from tests.unit.checklist.factories import (
    BACKUP,
    DIGEST,
    MIRROR,
    RELEASE,
    SINCE,
    TARGET,
    healthy_snapshot,
    idms,
    rendered,
    target,
)

DOWN = "down.corp.example/ocp4/openshift4"


def release(node: str, served: str, failed: tuple[str, ...] = ()) -> NodeRelease:
    return NodeRelease(
        node,
        "fallback" if failed else "mirror",
        "served",
        f"{served}@{DIGEST}",
        tuple("connection-refused" for _ in failed),
        failures=tuple((f"{m}@{DIGEST}", "mirror", "connection-refused") for m in failed),
    )


def covered_by(*mirrors: str):  # type: ignore[no-untyped-def]
    snapshot = healthy_snapshot(idmss=[idms("release", (RELEASE, list(mirrors)))])
    return coverage(rendered(snapshot).config, RELEASE, DIGEST)


def test_the_source_pull_spec_when_the_rules_cover_it_on_every_node() -> None:
    snapshot = healthy_snapshot()
    releases = node_releases(snapshot, target(), since=SINCE, cutoff=None)
    item = upgrade_command_item(releases, target(), covered_by(MIRROR))
    assert item.verdict == PASS
    assert item.remediation == (f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}",)
    assert item.details["pullSpec"] == TARGET
    assert (
        "alternative, pinned to one mirror (no fallback to the others): oc adm upgrade "
        f"--allow-explicit-upgrade --to-image {MIRROR}@{DIGEST} (served the release on 3 "
        "node(s), failed on none)"
    ) in item.evidence


def test_a_mirror_that_failed_on_a_node_is_never_offered() -> None:
    # The first mirror refuses connections; every node falls back to MIRROR.
    releases = [release(f"worker-{n}", MIRROR, failed=(DOWN,)) for n in range(3)]
    item = upgrade_command_item(releases, target(), covered_by(DOWN, MIRROR))
    assert item.verdict == PASS
    assert item.remediation == (f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}",)
    assert [a["mirror"] for a in item.details["alternatives"]] == [MIRROR]
    assert not any(DOWN in line for line in (*item.evidence, *item.remediation, item.summary))
    # A mirror that served one node but failed on another is no alternative either.
    mixed = [release("worker-0", BACKUP), release("worker-1", MIRROR, failed=(BACKUP,))]
    item = upgrade_command_item(mixed, target(), covered_by(BACKUP, MIRROR))
    assert [a["mirror"] for a in item.details["alternatives"]] == [MIRROR]


def test_without_evidence_from_the_nodes_no_command_is_given() -> None:
    nothing = healthy_snapshot(reports=Reports())
    releases = node_releases(nothing, target(), since=SINCE, cutoff=None)
    item = upgrade_command_item(releases, target(), covered_by(DOWN, MIRROR))
    assert item.verdict == FAIL and item.remediation == ()
    assert item.summary.startswith("no node has resolved the release through a mirror yet")
    assert DOWN not in item.summary
    assert upgrade_command_item(releases, target(), None).remediation == ()


def test_nodes_that_failed_or_were_not_confirmed() -> None:
    failed = NodeRelease("worker-2", "failed", "not served", None, ("dns",))
    releases = [release("worker-0", MIRROR), release("worker-1", MIRROR), failed]
    item = upgrade_command_item(releases, target(), covered_by(MIRROR))
    assert item.verdict == FAIL and item.remediation == ()
    assert item.evidence == ("not through a mirror: worker-2 (item 1)",)
    silent = NodeRelease("worker-2", "missing", "no report from this node")
    item = upgrade_command_item([*releases[:2], silent], target(), covered_by(MIRROR))
    assert item.verdict == WARN
    assert item.remediation == (f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}",)
    assert "not confirmed (no fresh report): worker-2 (item 1)" in item.evidence


def test_rules_that_do_not_cover_the_release_name_the_mirror_that_served_it() -> None:
    releases = [release("worker-0", MIRROR), release("worker-1", MIRROR)]
    uncovered = coverage(rendered(healthy_snapshot(idmss=[])).config, RELEASE, DIGEST)
    item = upgrade_command_item(releases, target(), uncovered)
    assert item.verdict == WARN
    assert item.remediation == (
        f"oc adm upgrade --allow-explicit-upgrade --to-image {MIRROR}@{DIGEST}",
    )
