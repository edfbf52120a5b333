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
