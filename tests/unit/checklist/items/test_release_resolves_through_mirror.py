"""Pre-upgrade item 1: the release through a mirror on every node, and when a report is fresh."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from agent.checklist.items.release_resolves_through_mirror import (
    NodeRelease,
    is_fresh,
    node_releases,
    release_item,
)
from agent.checklist.model import FAIL, PASS, Outcome, Permission, Unavailable
from agent.checklist.snapshot import NodeState, Reports, Snapshot
from agent.checklist.target import parse_target
from tests.unit.checklist.factories import (
    BACKUP,
    DIGEST,
    EARLIER,
    MIRROR,
    NS,
    RELEASE,
    SINCE,
    TARGET,
    daemonset,
    forbidden,
    healthy_snapshot,
    node,
    release_image,
    report_configmap,
    target,
)


def evaluate_release(
    snapshot: Snapshot,
    *,
    since: Optional[str],
    cutoff: Optional[datetime],
    payload_mirrors: tuple[str, ...] = (),
    write_problem: Optional[Unavailable] = None,
) -> tuple[Outcome, list[NodeRelease]]:
    """Item 1 as the runner evaluates it: each node's release state, then the verdict."""
    releases = node_releases(snapshot, target(), since=since, cutoff=cutoff)
    item = release_item(
        snapshot,
        target(),
        releases,
        since=since,
        payload_mirrors=payload_mirrors,
        write_problem=write_problem,
    )
    return item, releases


def test_release_item_passes_when_every_node_was_served_by_a_mirror() -> None:
    item, releases = evaluate_release(healthy_snapshot(), since=SINCE, cutoff=None)
    assert (
        item.verdict == PASS and item.summary == "all 3 expected nodes resolved it through a mirror"
    )
    assert item.evidence[0].endswith(f"{MIRROR} (3)")
    assert [r.state for r in releases] == ["mirror"] * 3
    assert item.details["servedBy"] == {MIRROR: 3}


def not_served(mirror_reason: str, source_reason: str) -> dict[str, Any]:
    """The release as a report has it when neither the mirror nor the source served it."""
    return release_image(
        served_by=None,
        kind=None,
        verdict="fail",
        attempts=[
            (f"{MIRROR}@{DIGEST}", "mirror", "failed", mirror_reason),
            (TARGET, "source", "failed", source_reason),
        ],
        findings=[("not-served", "fail", "no source served the image")],
    )


def test_release_item_failures_and_their_fixes() -> None:
    snapshot = healthy_snapshot(
        nodes=[
            node(n)
            for n in ("w-fallback", "w-missing", "w-old", "w-source", "w-unknown", "w-unauthorized")
        ],
        reports=Reports.of(
            [
                report_configmap(
                    "w-fallback",
                    images=[
                        release_image(
                            served_by=f"{BACKUP}@{DIGEST}",
                            verdict="warn",
                            attempts=[
                                (f"{MIRROR}@{DIGEST}", "mirror", "failed", "connection-refused"),
                                (f"{BACKUP}@{DIGEST}", "mirror", "served", None),
                            ],
                            findings=[("fallback-to-later-mirror", "warn", "served by mirror #2")],
                        )
                    ],
                ),
                report_configmap("w-old", checked_at=EARLIER),
                report_configmap(
                    "w-source",
                    images=[
                        release_image(
                            served_by=TARGET,
                            kind="source",
                            verdict="warn",
                            attempts=[(TARGET, "source", "served", None)],
                            findings=[("no-mirror-configured", "warn", "no mirrors")],
                        )
                    ],
                ),
                report_configmap("w-unknown", images=[not_served("manifest-unknown", "blocked")]),
                report_configmap("w-unauthorized", images=[not_served("unauthorized", "dns")]),
            ]
        ),
    )
    item, releases = evaluate_release(snapshot, since=SINCE, cutoff=None)
    states = {r.node: r.state for r in releases}
    assert states == {
        "w-fallback": "fallback",
        "w-missing": "missing",
        "w-old": "missing",
        "w-source": "source",
        "w-unknown": "failed",
        "w-unauthorized": "failed",
    }
    assert item.verdict == FAIL
    assert "5 of 6 expected nodes did not resolve the release through a mirror" in item.summary
    text = "\n".join(item.evidence)
    assert "w-missing: no report from this node" in text
    assert "w-old: its latest check of the release is older than this run" in text
    assert f"w-source: served by the source {TARGET}, not a mirror" in text
    assert "w-fallback: served by backup" in text
    assert item.remediation[:2] == (
        f"oc get pods -n {NS} -o wide --field-selector spec.nodeName=w-missing",
        f"oc get pods -n {NS} -o wide --field-selector spec.nodeName=w-old",
    )
    # The release goes to the mirror that answered manifest unknown (no payload mirror on
    # that registry is known here: the same repository, as oc adm release mirror does).
    assert (
        f'oc adm release mirror -a "$PULL_SECRET" --from={TARGET} --to={MIRROR} '
        f"--to-release-image={MIRROR}:${{OCP_RELEASE}}-${{ARCHITECTURE}}   # on a host that "
        "reaches quay.io and mirror.corp.example:8443; PULL_SECRET: credentials for both; "
        f"{MIRROR} answered manifest unknown"
    ) in item.remediation
    assert (
        "oc set data secret/pull-secret -n openshift-config "
        '--from-file=.dockerconfigjson="$PULL_SECRET"   # PULL_SECRET: the cluster\'s pull '
        "secret with credentials for mirror.corp.example:8443 added"
    ) in item.remediation
    # BACKUP served w-fallback; MIRROR refused it a connection: nothing to fix on BACKUP.
    assert not any(BACKUP in command for command in item.remediation)
    assert (
        f"oc debug node/w-source -- chroot /host skopeo --debug inspect --raw --authfile "
        f"/var/lib/kubelet/config.json docker://{TARGET}"
    ) in item.remediation


def test_release_item_skips_nodes_the_daemonset_does_not_run_on() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    windows = node("win-0", labels={"kubernetes.io/os": "windows"})
    linux = node("worker-0", labels={"kubernetes.io/os": "linux"})
    snapshot = healthy_snapshot(nodes=[windows, linux], daemonset=ds)
    item, releases = evaluate_release(snapshot, since=SINCE, cutoff=None)
    assert [r.node for r in releases] == ["worker-0"] and item.verdict == PASS


def test_release_item_without_mirror_agent_installed_or_readable() -> None:
    bare = healthy_snapshot(daemonset=None, reports=Reports())
    item, _ = evaluate_release(bare, since=SINCE, cutoff=None)
    assert item.verdict == FAIL and item.remediation[0].startswith("oc apply -k daemonset/")
    denied = healthy_snapshot(reports=forbidden("list", "configmaps", NS))
    item, _ = evaluate_release(denied, since=SINCE, cutoff=None)
    assert item.verdict == FAIL
    assert item.summary == "not checked: missing permission: list configmaps (in mirror-agent)"
    assert item.missing_permissions == (Permission("list", "configmaps", NS),)


def test_when_the_check_cannot_be_requested_recent_reports_still_count() -> None:
    cutoff = datetime(2030, 1, 1, 9, 30, tzinfo=timezone.utc)
    snapshot = healthy_snapshot()
    problem = forbidden("patch", "configmaps", NS)
    item, _ = evaluate_release(
        snapshot,
        since=None,
        cutoff=cutoff,
        write_problem=problem,
    )
    assert item.verdict == PASS  # the reports (10:02) are recent enough
    assert item.missing_permissions == (Permission("patch", "configmaps", NS),)
    stale = healthy_snapshot(
        reports=Reports.of(
            [report_configmap(n, checked_at=EARLIER) for n in ("master-0", "worker-0", "worker-1")]
        )
    )
    item, _ = evaluate_release(stale, since=None, cutoff=cutoff, write_problem=problem)
    assert item.verdict == FAIL
    assert item.remediation[0].startswith(f"oc edit configmap mirror-agent-checks -n {NS}")


def test_freshness_follows_the_request_or_the_machine_config() -> None:
    state = NodeState(
        "worker-0", True, "", False, True, "worker", "rendered-worker-2", None, "Done"
    )
    report = Reports.of([report_configmap("worker-0")]).by_node["worker-0"]
    assert is_fresh(report, state, target(), since=SINCE, cutoff=None)
    assert not is_fresh(report, state, target(), since="2030-01-01T10:05:00Z", cutoff=None)
    cutoff = datetime(2030, 1, 1, 9, 0, tzinfo=timezone.utc)
    # Checked under rendered-worker-1; the node has rolled out rendered-worker-2 since.
    assert not is_fresh(report, state, target(), since=None, cutoff=cutoff)
    other = parse_target(f"{RELEASE}@sha256:" + "99" * 32)
    assert not is_fresh(report, state, other, since=SINCE, cutoff=None)


def test_nodes_in_the_same_state_share_one_line() -> None:
    names = [f"worker-{n:03d}" for n in range(500)]
    snapshot = healthy_snapshot(
        nodes=[node(n) for n in names],
        reports=Reports.of([report_configmap(n, checked_at=EARLIER) for n in names[:200]]),
    )
    item, _ = evaluate_release(snapshot, since=SINCE, cutoff=None)
    assert item.evidence == (
        "200 nodes (" + ", ".join(names[:20]) + " and 180 more): its latest check of the "
        "release is older than this run",
        "300 nodes (" + ", ".join(names[200:220]) + " and 280 more): no report from this node",
    )
    assert len(item.remediation) == 11  # ten nodes' pods, then all of them


def test_a_report_from_the_future_is_never_fresh() -> None:
    """A node's clock far ahead (or a forged checkedAt 2999) must not count as a check
    made after the request forever."""
    state = NodeState(
        "worker-0", True, "", False, True, "worker", "rendered-worker-1", None, "Done"
    )
    report = Reports.of([report_configmap("worker-0", checked_at="2999-01-01T00:00:00Z")]).by_node[
        "worker-0"
    ]
    now = datetime(2030, 1, 1, 10, 30, tzinfo=timezone.utc)
    assert is_fresh(report, state, target(), since=SINCE, cutoff=None)  # without a clock
    assert not is_fresh(report, state, target(), since=SINCE, cutoff=None, now=now)
    snapshot = healthy_snapshot(
        reports=Reports.of([report_configmap("worker-0", checked_at="2999-01-01T00:00:00Z")])
    )
    releases = node_releases(snapshot, target(), since=SINCE, cutoff=None, now=now)
    (worker,) = [r for r in releases if r.node == "worker-0"]
    assert worker.state == "missing" and "in the future" in worker.message


def _unknown_to_mirrors(name: str, source_reason: Optional[str]) -> dict[str, Any]:
    attempts: list[tuple[str, str, str, Optional[str]]] = [
        (f"{MIRROR}@{DIGEST}", "mirror", "failed", "manifest-unknown"),
        (f"{BACKUP}@{DIGEST}", "mirror", "failed", "manifest-unknown"),
    ]
    if source_reason:
        attempts.append((TARGET, "source", "failed", source_reason))
    return report_configmap(
        name,
        current=f"rendered-{name[:-2]}-1",
        images=[
            release_image(
                served_by=None,
                kind=None,
                verdict="fail",
                attempts=attempts,
                findings=[("not-served", "fail", "no source served the image")],
            )
        ],
    )


def test_a_disconnected_cluster_whose_mirrors_lack_the_digest_gets_the_digest_check() -> None:
    # The source unreachable (dns) or blocked (NeverContactSource: no attempt): every mirror
    # answering "manifest unknown" on every node means not mirrored, or a wrong digest.
    names = ("master-0", "worker-0", "worker-1")
    for source_reason in ("dns", None, "blocked"):
        snapshot = healthy_snapshot(
            reports=Reports.of([_unknown_to_mirrors(n, source_reason) for n in names])
        )
        item, _ = evaluate_release(snapshot, since=SINCE, cutoff=None)
        assert item.remediation[0].startswith("oc adm release info -o 'jsonpath={.digest}")
        assert any(c.startswith("oc adm release mirror ") for c in item.remediation)
        assert any(
            "the release was not mirrored, or the digest is wrong" in e for e in item.evidence
        )
    # One node that the mirror served: the digest exists; no digest check.
    mixed = healthy_snapshot(
        reports=Reports.of(
            [
                _unknown_to_mirrors("master-0", "dns"),
                _unknown_to_mirrors("worker-0", "dns"),
                report_configmap("worker-1"),
            ]
        )
    )
    item, _ = evaluate_release(mixed, since=SINCE, cutoff=None)
    assert not any(c.startswith("oc adm release info") for c in item.remediation)
