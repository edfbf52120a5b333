"""Pre-upgrade item 2: the mirror rules cover the release and payload; every node agrees."""

from __future__ import annotations

import json
from typing import Any

import yaml

from agent.checklist.items.common import pool_status_commands
from agent.checklist.items.mirror_rules import mirror_rules_item
from agent.checklist.items.release_resolves_through_mirror import NodeRelease
from agent.checklist.model import FAIL, PASS, WARN
from agent.checklist.snapshot import Reports, Snapshot
from agent.checklist.target import parse_target
from agent.checklist.version import Version, cluster_version_of
from tests.unit.checklist.factories import (
    BACKUP,
    DIGEST,
    EFFECTIVE,
    MIRROR,
    NEW_MIRROR_SET,
    PAYLOAD,
    RELEASE,
    cluster_version,
    entry,
    forbidden,
    healthy_snapshot,
    idms,
    image_config,
    itms,
    new_name_masked,
    node,
    release_image,
    rendered,
    report_configmap,
    target,
)


def version14() -> Version:
    return cluster_version_of(cluster_version(), None, post=False)


def test_mirror_rules_pass_when_covered_and_every_node_agrees() -> None:
    snapshot = healthy_snapshot()
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == PASS, item.evidence
    assert item.details["coverage"]["payload"]["mirrors"] == [MIRROR]
    assert "3 of 3 compared nodes agree with the mirror sets" in item.evidence


def test_an_uncovered_payload_repository_gets_a_mirror_set() -> None:
    snapshot = healthy_snapshot(idmss=[idms("release", (RELEASE, [MIRROR]))])
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert f"payload repository {PAYLOAD}: NOT covered" in "\n".join(item.evidence)
    assert new_name_masked(item.remediation[0]) == (
        "oc apply -f - <<'EOF'\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
        f"metadata:\n  name: {NEW_MIRROR_SET}\nspec:\n  imageDigestMirrors:\n"
        f"  - source: {PAYLOAD}\n    mirrors:\n    - {MIRROR}\nEOF"
    )
    # 4.12 and older: an ImageContentSourcePolicy.
    old = mirror_rules_item(snapshot, target(), rendered(snapshot, (4, 12)), version14())
    assert "kind: ImageContentSourcePolicy" in old.remediation[0]


def test_the_proposed_mirror_set_never_takes_an_existing_name() -> None:
    # `oc apply` of an existing name would replace that object and drop its mappings.
    existing = idms("release-mirrors", (RELEASE, [MIRROR]))
    snapshot = healthy_snapshot(idmss=[existing])
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    proposed = yaml.safe_load(item.remediation[0].split("\n", 1)[1].rsplit("\n", 1)[0])
    name = proposed["metadata"]["name"]
    assert name.startswith("mirror-agent-") and name != "release-mirrors"
    # The name depends on the mapping; another object holding it makes it longer.
    clash = idms(name, (f"{RELEASE}-other", [MIRROR]))
    taken = healthy_snapshot(idmss=[existing, clash])
    again = mirror_rules_item(taken, target(), rendered(taken), version14())
    assert f"  name: {name}-2\n" in again.remediation[0]


def test_a_blocked_source_names_what_blocks_it() -> None:
    never = idms("release", (RELEASE, [MIRROR]), (PAYLOAD, [MIRROR]))
    never["spec"]["imageDigestMirrors"][0]["mirrorSourcePolicy"] = "NeverContactSource"
    snapshot = healthy_snapshot(idmss=[never])
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert (
        f"release repository {RELEASE}: covered by {RELEASE} → {MIRROR} (source blocked: "
        "NeverContactSource in ImageDigestMirrorSet/release)"
    ) in item.evidence
    # Blocked by image.config, not by a mirror set: named as such.
    blocked = healthy_snapshot(image_config=image_config(blocked=["quay.io"]))
    item = mirror_rules_item(blocked, target(), rendered(blocked), version14())
    assert (
        f"release repository {RELEASE}: covered by {RELEASE} → {MIRROR} (source blocked: "
        "blockedRegistries quay.io of image.config.openshift.io/cluster)"
    ) in item.evidence
    assert not any("NeverContactSource" in line for line in item.evidence)


def test_with_the_version_unknown_a_refusal_is_hedged() -> None:
    from agent.checklist.items.registry_sources import registry_sources_item
    from agent.checklist.version import LATEST

    snapshot = healthy_snapshot(image_config=image_config(insecure=["", "registry.example"]))
    unknown = cluster_version_of(None, None, post=False)
    assert unknown.source == "unknown"
    rendering = rendered(snapshot, LATEST)
    item = mirror_rules_item(snapshot, target(), rendering, unknown)
    assert item.verdict == FAIL
    assert "would be refused by OCP >= 4.16's MCO (the cluster's version is unknown: pass " in (
        item.summary
    )
    assert not any("Operator refuses" in line for line in item.evidence)
    assert any(
        line.startswith("MCO refusal (OCP >= 4.16): Image/cluster ") for line in item.evidence
    )
    sources = registry_sources_item(snapshot, rendering, [])
    assert "would be refused by OCP >= 4.16's MCO" in sources.summary
    # Known: said as a fact.
    known = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert known.summary.startswith("the MCO refuses to render the mirror sets")


def test_a_node_that_disagrees_with_the_mirror_sets_is_named() -> None:
    drifted = json.loads(json.dumps(EFFECTIVE))
    drifted[1]["mirrors"].insert(
        0, {"location": BACKUP, "insecure": False, "pullFromMirror": "digest-only"}
    )
    snapshot = healthy_snapshot(
        reports=Reports.of(
            [
                report_configmap("master-0", current="rendered-master-1"),
                report_configmap("worker-0"),
                report_configmap("worker-1", effective=drifted),
            ]
        )
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert item.summary == "1 node(s) disagree with the mirror sets"
    line = next(e for e in item.evidence if e.startswith("1 node(s) worker-1"))
    assert f"{RELEASE}: mirrors: expected {MIRROR} (digest-only); the node has {BACKUP}" in line
    # The pool's status and the daemon's own state, not a forced rewrite of a production node.
    assert item.remediation[:2] == tuple(pool_status_commands("worker", "worker-1"))
    assert not any("machine-config-daemon-force" in command for command in item.remediation)
    nodes = {n["node"]: n for n in item.details["nodes"]}
    assert nodes["worker-1"]["differences"][0]["aspect"] == "mirrors"


def test_a_node_entry_that_shadows_a_mirrored_scope_fails_item_2() -> None:
    # A namespace-scope mirror set covers release and payload; worker-1 has an unmanaged
    # drop-in entry for the payload repository without mirrors, which takes its pulls.
    scope, scope_mirror = "quay.io/openshift-release-dev", "mirror.corp.example:8443/ocp"
    namespace_entry = {
        "prefix": scope,
        "location": scope,
        "insecure": False,
        "blocked": False,
        "mirrorByDigestOnly": False,
        "mirrors": [{"location": scope_mirror, "insecure": False, "pullFromMirror": "digest-only"}],
    }
    shadow = {**namespace_entry, "prefix": PAYLOAD, "location": PAYLOAD, "mirrors": []}
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (scope, [scope_mirror]))],
        reports=Reports.of(
            [
                report_configmap(
                    "master-0", current="rendered-master-1", effective=[namespace_entry]
                ),
                report_configmap("worker-0", effective=[namespace_entry]),
                report_configmap("worker-1", effective=[namespace_entry, shadow]),
            ]
        ),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL and item.summary == "1 node(s) disagree with the mirror sets"
    line = next(e for e in item.evidence if e.startswith("1 node(s) worker-1"))
    assert (
        f"{PAYLOAD}: an entry no mirror set renders, inside {scope}, takes its pulls (the "
        f"longest match wins): expected {scope_mirror}/ocp-v4.0-art-dev (digest-only); the node "
        "has no mirrors"
    ) in line
    assert (
        f"oc debug node/worker-1 -- chroot /host grep -rlF {PAYLOAD} "
        "/etc/containers/registries.conf /etc/containers/registries.conf.d   # the file whose "
        f"entry shadows {scope}: remove the entry (or the MachineConfig that writes it)"
    ) in item.remediation
    nodes = {n["node"]: n for n in item.details["nodes"]}
    assert nodes["worker-1"]["differences"][0]["aspect"] == "shadowing-entry"
    assert nodes["worker-0"]["verdict"] == PASS


def test_a_rollout_in_progress_is_waited_for() -> None:
    stale_rules = [EFFECTIVE[1]]  # the payload rule is not rendered on this node yet
    snapshot = healthy_snapshot(
        nodes=[node("worker-0"), node("worker-1", desired="rendered-worker-2")],
        reports=Reports.of(
            [report_configmap("worker-0"), report_configmap("worker-1", effective=stale_rules)]
        ),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert "(Machine Config rollout in progress on 1)" in "\n".join(item.evidence)
    assert item.remediation == ("oc wait mcp/worker --for=condition=Updated=True --timeout=60m",)


def test_mirror_rules_warnings_and_missing_permissions() -> None:
    omitted = healthy_snapshot(
        reports=Reports.of(
            [
                report_configmap("master-0", current="rendered-master-1"),
                report_configmap("worker-0"),
                report_configmap("worker-1", effective=None),
            ]
        ),
        image_config=forbidden("get", "images.config.openshift.io"),
    )
    item = mirror_rules_item(omitted, target(), rendered(omitted), version14())
    assert item.verdict == WARN
    assert "not compared (its report has no effective entries (an older agent)): worker-1" in (
        item.evidence
    )
    # image.config is item 7's: its absence says nothing about the mirror rules
    assert item.missing_permissions == ()
    assert not any("image.config" in line for line in item.evidence)
    custom = parse_target(f"registry.example.com/ocp/release@{DIGEST}")
    assert "payload repository of registry.example.com/ocp/release unknown" in "\n".join(
        mirror_rules_item(omitted, custom, rendered(omitted), version14()).evidence
    )
    denied = healthy_snapshot(idmss=forbidden("list", "imagedigestmirrorsets.config.openshift.io"))
    item = mirror_rules_item(denied, target(), None, version14())
    assert item.verdict == FAIL
    assert item.summary == (
        "not checked: missing permission: list imagedigestmirrorsets.config.openshift.io"
    )


def refused_snapshot(**changes: object) -> Snapshot:
    """The cluster's objects add a set the MCO refuses (an empty mirror in an ICSP): the
    nodes still hold the file rendered before (EFFECTIVE), which the new set would change."""
    return healthy_snapshot(
        icsps=[
            {
                "kind": "ImageContentSourcePolicy",
                "metadata": {"name": "team"},
                "spec": {
                    "repositoryDigestMirrors": [
                        {"source": "registry.example.com/team", "mirrors": ["", BACKUP]}
                    ]
                },
            }
        ],
        **changes,
    )


def test_a_refused_rendering_is_named_and_nodes_keep_their_file() -> None:
    snapshot = refused_snapshot()
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert item.summary == (
        "the MCO refuses to render the mirror sets: the MachineConfigPools will not update, "
        "nodes keep their current registries.conf"
    )
    evidence = "\n".join(item.evidence)
    assert (
        "MCO refusal: ImageContentSourcePolicy/team spec.repositoryDigestMirrors[0].mirrors[0]: "
        "invalid empty entry for mirror configuration"
    ) in evidence
    # Nodes are held to their current file, not to the refused objects: none is "drifted",
    # although the objects' rules (registry.example.com/team) are on no node.
    assert "disagree" not in item.summary and "no entry on the node" not in evidence
    assert not any("machine-config-daemon-force" in command for command in item.remediation)
    assert item.remediation == (
        "oc get imagecontentsourcepolicy/team -o yaml   # fix "
        "spec.repositoryDigestMirrors[0].mirrors[0]",
        "oc logs -n openshift-machine-config-operator deployment/machine-config-controller "
        "-c machine-config-controller | grep -F 'invalid empty entry for mirror configuration'",
    )
    assert all(n["compared"] and n["verdict"] == PASS for n in item.details["nodes"])
    assert item.details["expected"] is None
    assert item.details["problems"][0]["field"] == "spec.repositoryDigestMirrors[0].mirrors[0]"
    assert any(e["prefix"] == "registry.example.com/team" for e in item.details["refusedRendering"])


def test_while_refused_nodes_on_one_rendered_config_should_hold_one_file() -> None:
    drifted = json.loads(json.dumps(EFFECTIVE))
    drifted[1]["mirrors"].insert(
        0, {"location": BACKUP, "insecure": False, "pullFromMirror": "digest-only"}
    )
    snapshot = refused_snapshot(
        reports=Reports.of(
            [
                report_configmap("master-0", current="rendered-master-1"),
                report_configmap("worker-0"),
                report_configmap("worker-1", effective=drifted),
            ]
        )
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL  # the refusal
    line = next(e for e in item.evidence if e.startswith("pool worker:"))
    assert "nodes on rendered-worker-1 hold different registries.conf files" in line
    assert "worker-0" in line and "worker-1" in line


OC_MIRROR = "mirror.corp.example:8443/ocp"  # oc-mirror: release-images and release apart


def oc_mirror_nodes(*images: dict[str, Any]) -> Reports:
    """Nodes that apply the release rule only (as rendered), reporting these images."""
    effective = [entry(RELEASE, [f"{OC_MIRROR}/release-images"])]
    return Reports.of(
        [
            report_configmap(
                name,
                effective=effective,
                current=f"rendered-{name[:-2]}-1",
                images=[release_image(served_by=f"{OC_MIRROR}/release-images@{DIGEST}"), *images],
            )
            for name in ("master-0", "worker-0", "worker-1")
        ]
    )


def test_an_uncovered_payload_without_evidence_gets_the_command_that_prints_the_rules() -> None:
    # oc-mirror put the release in …/release-images and the payload in …/release; only the
    # release's rule was applied. Mapping the payload to …/release-images would be wrong.
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (RELEASE, [f"{OC_MIRROR}/release-images"]))],
        reports=oc_mirror_nodes(),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert item.summary == f"not covered: {PAYLOAD}"
    assert not any("release-images" in c and "source: " in c for c in item.remediation)
    assert item.remediation[:2] == (
        f'oc adm release mirror -a "$PULL_SECRET" --from={RELEASE}@{DIGEST} '
        '--to="$MIRROR_REPOSITORY" --print-mirror-instructions=idms --dry-run   # oc >= 4.14; '
        "mirrored with oc adm release mirror: prints the mirror set to apply; "
        "MIRROR_REPOSITORY: the --to it was mirrored with",
        'oc apply -f "$OC_MIRROR_WORKSPACE"/working-dir/cluster-resources/idms-oc-mirror.yaml'
        "   # mirrored with oc-mirror v2 (v1: oc-mirror-workspace/results-*/"
        "imageContentSourcePolicy.yaml)",
    )
    assert (
        f"nothing the cluster holds shows where {PAYLOAD} is mirrored (oc adm release mirror "
        "puts release and payload in one repository, oc-mirror in two): take the mirror set "
        "the mirroring tool printed or wrote"
    ) in item.evidence
    # 4.12 ignores the IDMS, which still shows where the release is: an ICSP for it; the
    # payload's still comes from what the mirroring tool prints (an ICSP there too).
    old = mirror_rules_item(snapshot, target(), rendered(snapshot, (4, 12)), version14())
    assert old.remediation[0].endswith(
        f"  - source: {RELEASE}\n    mirrors:\n    - {OC_MIRROR}/release-images\nEOF"
    )
    assert "kind: ImageContentSourcePolicy" in old.remediation[0]
    # oc before 4.14 has no --print-mirror-instructions; it prints an ICSP unasked.
    assert old.remediation[1].startswith("oc adm release mirror ")
    assert "--print-mirror-instructions" not in old.remediation[1]
    assert '--to="$MIRROR_REPOSITORY" --dry-run   # mirrored with' in old.remediation[1]


def test_an_uncovered_payload_is_mapped_where_the_evidence_shows_it() -> None:
    # A tag-only rule (ImageTagMirrorSet) names where the payload is; digest pulls skip it.
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (RELEASE, [f"{OC_MIRROR}/release-images"]))],
        itmss=[itms("oc-mirror", (PAYLOAD, [f"{OC_MIRROR}/release"]))],
        reports=oc_mirror_nodes(),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.verdict == FAIL
    assert (
        f"{PAYLOAD} is mirrored at {OC_MIRROR}/release: ImageTagMirrorSet/oc-mirror maps "
        f"{PAYLOAD} to {OC_MIRROR}/release"
    ) in item.evidence
    assert new_name_masked(item.remediation[0]) == (
        "oc apply -f - <<'EOF'\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"
        f"metadata:\n  name: {NEW_MIRROR_SET}\nspec:\n  imageDigestMirrors:\n"
        f"  - source: {PAYLOAD}\n    mirrors:\n    - {OC_MIRROR}/release\nEOF"
    )
    assert not any("--print-mirror-instructions" in c for c in item.remediation)
    # A node's report of a payload image served by a mirror is evidence too.
    payload_image = f"{PAYLOAD}@sha256:" + "ab" * 32
    served = release_image(
        image=payload_image, served_by=f"{OC_MIRROR}/release@sha256:" + "ab" * 32
    )
    reported = healthy_snapshot(
        idmss=[idms("oc-mirror", (RELEASE, [f"{OC_MIRROR}/release-images"]))],
        reports=oc_mirror_nodes(served),
    )
    item = mirror_rules_item(reported, target(), rendered(reported), version14())
    assert f"    - {OC_MIRROR}/release\nEOF" in item.remediation[0]
    assert item.details["mirrorEvidence"][PAYLOAD][0] == (
        {
            "mirror": f"{OC_MIRROR}/release",
            "why": f"master-0's report: {payload_image} served by {OC_MIRROR}/release@sha256:"
            + "ab" * 32,
        }
    )


def test_evidence_the_nodes_pulled_ranks_first_and_every_working_mirror_is_listed() -> None:
    other = "other.corp.example/ocp4/openshift4"
    payload_image = f"{PAYLOAD}@sha256:" + "ab" * 32
    served = release_image(image=payload_image, served_by=f"{MIRROR}@sha256:" + "ab" * 32)
    snapshot = healthy_snapshot(
        idmss=[idms("release", (RELEASE, [MIRROR]))],
        itmss=[itms("payload-tags", (PAYLOAD, [other, MIRROR]))],
        reports=oc_mirror_nodes(served),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert [e["mirror"] for e in item.details["mirrorEvidence"][PAYLOAD]] == [MIRROR, other]
    assert item.remediation[0].endswith(
        f"  - source: {PAYLOAD}\n    mirrors:\n    - {MIRROR}\n    - {other}\nEOF"
    )


def test_a_mirror_that_failed_the_release_everywhere_is_not_proposed() -> None:
    down = "down.corp.example:5000/ocp4/openshift4"
    snapshot = healthy_snapshot(
        idmss=[idms("release", (RELEASE, [down, MIRROR]))],
        itmss=[itms("payload-tags", (PAYLOAD, [down, MIRROR]))],
    )
    releases = [
        NodeRelease(
            name,
            "fallback",
            "served after earlier mirrors failed",
            f"{MIRROR}@{DIGEST}",
            ("connection-refused",),
            failures=((f"{down}@{DIGEST}", "mirror", "connection-refused"),),
        )
        for name in ("master-0", "worker-0", "worker-1")
    ]
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14(), releases)
    assert item.remediation[0].endswith(f"  - source: {PAYLOAD}\n    mirrors:\n    - {MIRROR}\nEOF")
    assert (
        f"{PAYLOAD} is mapped to {down} (ImageTagMirrorSet/payload-tags maps {PAYLOAD} to "
        f"{down}), not proposed: failed to serve the release on 3 node(s) (connection-refused)"
    ) in item.evidence
    # Another repository on the unreachable host is not proposed either.
    elsewhere = f"{down.split('/')[0]}/ocp4/payload"
    moved = healthy_snapshot(
        idmss=[idms("release", (RELEASE, [down, MIRROR]))],
        itmss=[itms("payload-tags", (PAYLOAD, [elsewhere]))],
    )
    item = mirror_rules_item(moved, target(), rendered(moved), version14(), releases)
    assert not any(elsewhere in c for c in item.remediation)
    # A mirror that answered "manifest unknown" for the release is up: only its repository
    # is left out.
    unknown = [
        NodeRelease(
            "worker-0",
            "fallback",
            "served after earlier mirrors failed",
            f"{MIRROR}@{DIGEST}",
            failures=((f"{down}@{DIGEST}", "mirror", "manifest-unknown"),),
        )
    ]
    item = mirror_rules_item(moved, target(), rendered(moved), version14(), unknown)
    assert f"    mirrors:\n    - {elsewhere}\n" in item.remediation[0]


def test_only_digest_pulls_are_evidence_and_the_mapping_is_a_repository() -> None:
    # A payload image pulled by tag and served by a mirror: a tag-only rule may have
    # served it, and the mapping must never carry the tag.
    tagged = release_image(
        image=f"{PAYLOAD}:4.15.3-x86_64-etcd",
        served_by=f"{OC_MIRROR}/release:4.15.3-x86_64-etcd",
    )
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (RELEASE, [f"{OC_MIRROR}/release-images"]))],
        reports=oc_mirror_nodes(tagged),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.details["mirrorEvidence"][PAYLOAD] == []
    assert not any(":4.15.3-x86_64-etcd" in c for c in item.remediation)
    assert "--print-mirror-instructions=idms" in item.remediation[0]
    # By digest, the served location's repository (parsed, not cut at "@") is evidence.
    by_digest = release_image(
        image=f"{PAYLOAD}@sha256:" + "ab" * 32,
        served_by=f"{OC_MIRROR}/release:4.15.3@sha256:" + "ab" * 32,
    )
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (RELEASE, [f"{OC_MIRROR}/release-images"]))],
        reports=oc_mirror_nodes(by_digest),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert item.remediation[0].endswith(f"    mirrors:\n    - {OC_MIRROR}/release\nEOF")


def test_a_probe_that_found_a_payload_image_is_evidence() -> None:
    payload_image = f"{PAYLOAD}@sha256:" + "cd" * 32
    probed = release_image(image=payload_image, served_by=None, kind=None, verdict="fail")
    probed["probes"] = [
        {"location": f"{OC_MIRROR}/release@sha256:" + "cd" * 32, "available": True},
        {"location": f"{OC_MIRROR}/other@sha256:" + "cd" * 32, "available": False},
    ]
    snapshot = healthy_snapshot(
        idmss=[idms("oc-mirror", (RELEASE, [f"{OC_MIRROR}/release-images"]))],
        reports=oc_mirror_nodes(probed),
    )
    item = mirror_rules_item(snapshot, target(), rendered(snapshot), version14())
    assert [e["mirror"] for e in item.details["mirrorEvidence"][PAYLOAD]] == [
        f"{OC_MIRROR}/release"
    ]
    assert f"    - {OC_MIRROR}/release\nEOF" in item.remediation[0]
