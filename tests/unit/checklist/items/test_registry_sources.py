"""Pre-upgrade item 7: image.config's insecure and blocked registries, judged apart from the
mirror rules (item 2 passes or fails on mirror rules alone)."""

from __future__ import annotations

from agent.checklist.compare import coverage
from agent.checklist.items.common import pool_status_commands
from agent.checklist.items.mirror_rules import mirror_rules_item
from agent.checklist.items.registry_sources import registry_sources_item
from agent.checklist.model import FAIL, PASS, WARN, Permission
from agent.checklist.snapshot import Reports, Snapshot
from agent.checklist.version import cluster_version_of
from tests.unit.checklist.factories import (
    DIGEST,
    EFFECTIVE,
    MIRROR,
    PAYLOAD,
    RELEASE,
    cluster_version,
    entry,
    forbidden,
    healthy_snapshot,
    idms,
    image_config,
    rendered,
    report_configmap,
    target,
)

INTERNAL = "registry.internal.example:5000"
NODES = ("master-0", "worker-0", "worker-1")


def with_effective(effective: list[dict[str, object]], **changes: object) -> Snapshot:
    return healthy_snapshot(
        reports=Reports.of(
            [
                report_configmap(name, effective=effective, current=f"rendered-{name[:-2]}-1")
                for name in NODES
            ]
        ),
        **changes,
    )


def both_items(snapshot: Snapshot):  # type: ignore[no-untyped-def]
    rendering = rendered(snapshot)
    version = cluster_version_of(cluster_version(), None, post=False)
    coverages = [coverage(rendering.config, repo, DIGEST) for repo in (RELEASE, PAYLOAD)]
    return (
        mirror_rules_item(snapshot, target(), rendering, version),
        registry_sources_item(snapshot, rendering, coverages),
    )


def test_an_insecure_registry_the_nodes_lack_is_not_a_mirror_rule() -> None:
    snapshot = with_effective(EFFECTIVE, image_config=image_config(insecure=[INTERNAL]))
    rules, sources = both_items(snapshot)
    assert rules.verdict == PASS, rules.evidence
    assert "3 of 3 compared nodes agree with the mirror sets" in rules.evidence
    assert sources.verdict == WARN
    assert sources.summary == (
        "3 node(s) differ from image.config's registry sources; mirror resolution is judged "
        "by item 2"
    )
    assert sources.evidence[0] == (
        f"image.config.openshift.io/cluster registrySources: insecure {INTERNAL}; blocked none"
    )
    assert (
        f"3 node(s) master-0, worker-0, worker-1: {INTERNAL}: image.config marks it insecure "
        "(registrySources.insecureRegistries); the node's registries.conf has no entry for it "
        "(pulls from it verify TLS; mirror resolution is unaffected)"
    ) in sources.evidence
    assert "no entry on the node (expected no mirrors)" not in "\n".join(sources.evidence)
    assert sources.remediation == (
        *pool_status_commands("master", "master-0"),
        *pool_status_commands("worker", "worker-0"),
    )
    # Once the nodes have the entry, both pass.
    applied = with_effective(
        [*EFFECTIVE, entry(INTERNAL, insecure=True)],
        image_config=image_config(insecure=[INTERNAL]),
    )
    rules, sources = both_items(applied)
    assert (rules.verdict, sources.verdict) == (PASS, PASS)
    assert sources.summary == (
        "every compared node applies image.config's insecure and blocked registries"
    )


def test_a_release_mirror_inside_an_insecure_scope_fails() -> None:
    mirror_host = MIRROR.split("/", 1)[0]
    snapshot = with_effective(EFFECTIVE, image_config=image_config(insecure=[mirror_host]))
    rules, sources = both_items(snapshot)
    assert rules.verdict == PASS
    assert sources.verdict == FAIL
    assert "where the release is pulled from" in sources.summary
    assert (
        f"{RELEASE}: mirrors inside insecureRegistries scopes: expected {MIRROR} (digest-only, "
        f"insecure); the node has {MIRROR} (digest-only)"
    ) in "\n".join(sources.evidence)


def test_blocked_registries_and_a_node_s_own_flags() -> None:
    blocked = "docker.io"
    snapshot = with_effective(
        [*EFFECTIVE, entry("ghcr.io", insecure=True)],
        image_config=image_config(blocked=[blocked]),
    )
    rules, sources = both_items(snapshot)
    assert rules.verdict == PASS
    assert sources.verdict == WARN
    text = "\n".join(sources.evidence)
    assert (
        f"{blocked}: image.config marks it blocked (registrySources.blockedRegistries); the "
        "node's registries.conf has no entry for it (pulls from it are not blocked; mirror "
        "resolution is unaffected)"
    ) in text
    assert (
        "ghcr.io: the node's entry is insecure; image.config does not list it (pulls from it "
        "skip TLS verification)"
    ) in text
    # allowedRegistries beside blockedRegistries is an MCO refusal (mirror-rules fails):
    # the policy.json note is checked with allowedRegistries alone.
    allowed = with_effective(EFFECTIVE, image_config=image_config(allowed=["quay.io"]))
    rules, sources = both_items(allowed)
    assert rules.verdict == PASS
    assert "allowedRegistries (quay.io) is written to policy.json" in "\n".join(sources.evidence)


def test_never_contact_source_stays_a_mirror_rule() -> None:
    never = idms("release", (RELEASE, [MIRROR]), (PAYLOAD, [MIRROR]))
    for one in never["spec"]["imageDigestMirrors"]:
        one["mirrorSourcePolicy"] = "NeverContactSource"
    snapshot = with_effective(EFFECTIVE, idmss=[never])  # the nodes do not block the sources
    rules, sources = both_items(snapshot)
    assert rules.verdict == FAIL
    assert f"{RELEASE}: blocked: expected true; the node has false" in "\n".join(rules.evidence)
    assert sources.verdict == PASS


def test_image_config_unreadable_or_absent() -> None:
    denied = with_effective(EFFECTIVE, image_config=forbidden("get", "images.config.openshift.io"))
    _, sources = both_items(denied)
    assert sources.verdict == WARN
    assert sources.missing_permissions == (Permission("get", "images.config.openshift.io"),)
    _, sources = both_items(with_effective(EFFECTIVE))
    assert sources.verdict == PASS
    assert sources.summary == (
        "image.config sets no insecure or blocked registries, and no node has any"
    )
