"""Pre-upgrade item 3: the release signature ConfigMap, where the cluster-version operator
reads it."""

from __future__ import annotations

from agent.checklist.items.release_signature import signature_item
from agent.checklist.model import FAIL, PASS
from tests.unit.checklist.factories import (
    DIGEST,
    TARGET,
    forbidden,
    healthy_snapshot,
    signature_configmap,
    target,
)


def test_signature_item() -> None:
    assert signature_item(healthy_snapshot(), target()).verdict == PASS
    missing = signature_item(healthy_snapshot(signatures=[]), target())
    hexdigest = DIGEST.split(":")[1]
    assert missing.verdict == FAIL
    # Disconnected: the mirroring host writes the ConfigMap, a cluster host applies it.
    assert missing.remediation == (
        'oc apply -f "$OC_MIRROR_WORKSPACE"/working-dir/cluster-resources/'
        "signature-configmap.yaml   # mirrored with oc-mirror v2 (v1: "
        "oc-mirror-workspace/results-*/release-signatures/)",
        f'oc adm release mirror -a "$PULL_SECRET" --from={TARGET} --to="$MIRROR_REPOSITORY" '
        "--release-image-signature-to-dir=./release-signatures   # on the host that mirrors "
        "releases (it reaches quay.io and the mirror): writes the signature ConfigMap; copy "
        "./release-signatures to a host that reaches the cluster",
        "oc apply -f ./release-signatures/   # on a host that reaches the cluster",
    )
    assert not any("curl" in command or "https://" in command for command in missing.remediation)
    assert hexdigest in missing.evidence[0]
    other = signature_item(
        healthy_snapshot(signatures=[signature_configmap("sha256:" + "1" * 64)]), target()
    )
    assert other.verdict == FAIL
    # the cluster-version operator reads binaryData only: a signature under data is unseen
    as_data = signature_configmap()
    as_data["data"] = as_data.pop("binaryData")
    ignored = signature_item(healthy_snapshot(signatures=[as_data]), target())
    assert ignored.verdict == FAIL
    assert any("under data, which the cluster ignores" in line for line in ignored.evidence)
    denied = signature_item(
        healthy_snapshot(signatures=forbidden("list", "configmaps", "openshift-config-managed")),
        target(),
    )
    assert denied.summary == (
        "not checked: missing permission: list configmaps (in openshift-config-managed)"
    )


def test_a_release_by_sha512_looks_for_its_own_key_and_says_sha256_signs_releases() -> None:
    from agent.checklist.target import parse_target

    digest = "sha512:" + "cd" * 64
    release = parse_target(f"{TARGET.split('@')[0]}@{digest}")
    # a sha256 signature never stands for a sha512-named release
    missing = signature_item(healthy_snapshot(), release)
    assert missing.verdict == FAIL
    assert "sha512-" + "cd" * 64 + "-<n>" in missing.evidence[0]
    assert any("signed by their sha256 digest" in line for line in missing.evidence)
    found = signature_item(healthy_snapshot(signatures=[signature_configmap(digest)]), release)
    assert found.verdict == PASS
    # the sha256 case says nothing about other algorithms
    assert not any(
        "sha256 digest" in line
        for line in signature_item(healthy_snapshot(signatures=[]), target()).evidence
    )
