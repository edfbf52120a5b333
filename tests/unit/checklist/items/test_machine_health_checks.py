"""Pre-upgrade item 4 (every MachineHealthCheck paused) and post-upgrade item 4 (none still
paused)."""

from __future__ import annotations

from agent.checklist.items.machine_health_checks import (
    health_checks_paused_item,
    health_checks_resumed_item,
)
from agent.checklist.model import FAIL, PASS
from tests.unit.checklist.factories import forbidden, health_check, healthy_snapshot


def test_health_checks_paused_then_resumed() -> None:
    mixed = healthy_snapshot(
        health_checks=[health_check("a", paused=True), health_check("b", paused=False)]
    )
    item = health_checks_paused_item(mixed)
    assert item.verdict == FAIL and item.remediation == (
        'oc annotate machinehealthcheck b -n openshift-machine-api cluster.x-k8s.io/paused=""',
    )
    after = health_checks_resumed_item(mixed)
    assert after.verdict == FAIL and after.remediation == (
        "oc annotate machinehealthcheck a -n openshift-machine-api cluster.x-k8s.io/paused-",
    )
    assert health_checks_paused_item(healthy_snapshot(health_checks=[])).verdict == PASS
    resumed = healthy_snapshot(health_checks=[health_check("a", paused=False)])
    assert health_checks_resumed_item(resumed).verdict == PASS
    denied = healthy_snapshot(
        health_checks=forbidden(
            "list", "machinehealthchecks.machine.openshift.io", "openshift-machine-api"
        )
    )
    item = health_checks_paused_item(denied)
    assert item.verdict == FAIL and item.summary == (
        "not checked: missing permission: list machinehealthchecks.machine.openshift.io "
        "(in openshift-machine-api)"
    )
