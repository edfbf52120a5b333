"""Post-upgrade item 1: the ClusterVersion reached the desired release."""

from __future__ import annotations

from agent.checklist.items.cluster_version import cluster_version_item
from agent.checklist.model import FAIL, PASS
from tests.unit.checklist.factories import (
    DIGEST,
    MIRROR,
    TARGET,
    cluster_version,
    healthy_snapshot,
    target,
)


def test_cluster_version_item() -> None:
    done = healthy_snapshot(cluster_version=cluster_version(version="4.15.3", image=TARGET))
    assert cluster_version_item(done, target()).verdict == PASS
    assert cluster_version_item(done, None).summary == "4.15.3 completed"
    progressing = healthy_snapshot(
        cluster_version=cluster_version(
            version="4.15.3", image=TARGET, state="Partial", progressing=True
        )
    )
    item = cluster_version_item(progressing, target())
    assert (
        item.verdict == FAIL and item.summary == "the latest update is Partial; still Progressing"
    )
    assert item.remediation[1] == (
        "oc wait clusterversion/version --for=condition=Progressing=False --timeout=90m"
    )
    failing = healthy_snapshot(cluster_version=cluster_version(image=TARGET, failing=True))
    assert "Failing" in cluster_version_item(failing, None).summary
    elsewhere = cluster_version_item(healthy_snapshot(), target())
    assert elsewhere.summary == f"the desired release is not {DIGEST}"
    # the update was requested but refused (unverified): status still shows the old
    # release, Completed and Available, so only spec and ReleaseAccepted tell
    refused = cluster_version()
    refused["spec"]["desiredUpdate"] = {"image": f"{MIRROR}@{DIGEST}", "force": False}
    refused["status"]["conditions"].append(
        {"type": "ReleaseAccepted", "status": "False", "message": "cannot be verified"}
    )
    item = cluster_version_item(healthy_snapshot(cluster_version=refused), None)
    assert item.verdict == FAIL
    assert "is not the desired release" in item.summary
    assert "ReleaseAccepted is False" in item.summary
    accepted = cluster_version(version="4.15.3", image=TARGET)
    accepted["spec"]["desiredUpdate"] = {"image": f"{MIRROR}@{DIGEST}"}  # same digest, mirror
    assert cluster_version_item(healthy_snapshot(cluster_version=accepted), None).verdict == PASS
