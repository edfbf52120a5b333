"""Pre-upgrade item 3: the release signature ConfigMap, where the cluster-version operator
reads it."""

from __future__ import annotations

from agent.checklist.items.release_signature import signature_item
from agent.checklist.model import FAIL, PASS
from tests.unit.checklist.factories import (
    DIGEST,
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
    assert missing.remediation[1] == (
        "curl -sSfo signature-1 https://mirror.openshift.com/pub/openshift-v4/signatures/"
        f"openshift/release/sha256={hexdigest}/signature-1 && oc create configmap "
        f"sha256-{hexdigest} -n openshift-config-managed --from-file=sha256-{hexdigest}-1="
        f"signature-1 && oc label configmap sha256-{hexdigest} -n openshift-config-managed "
        "release.openshift.io/verification-signatures="
    )
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
