"""MachineHealthChecks around the update: pre-upgrade item 4 (every one paused, so that nodes
rebooting during the update are not replaced) and post-upgrade item 4 (none still paused).
Both read the same list, so they share this module."""

from __future__ import annotations

from shlex import quote
from typing import Union

from agent.checklist.items.common import outcome, unavailable
from agent.checklist.model import FAIL, PASS, Outcome, Unavailable
from agent.checklist.snapshot import MACHINE_API_NAMESPACE, PAUSED_ANNOTATION, Snapshot


def _health_checks(snapshot: Snapshot) -> Union[list[tuple[str, str, bool]], Unavailable]:
    """(namespace, name, paused) of every MachineHealthCheck, sorted."""
    if isinstance(snapshot.health_checks, Unavailable):
        return snapshot.health_checks
    found = []
    for check in snapshot.health_checks:
        metadata = check.get("metadata") or {}
        paused = PAUSED_ANNOTATION in (metadata.get("annotations") or {})
        found.append(
            (
                str(metadata.get("namespace") or MACHINE_API_NAMESPACE),
                str(metadata.get("name")),
                paused,
            )
        )
    return sorted(found)


def health_checks_paused_item(snapshot: Snapshot) -> Outcome:
    checks = _health_checks(snapshot)
    if isinstance(checks, Unavailable):
        return unavailable([checks])
    unpaused = [(ns, name) for ns, name, paused in checks if not paused]
    evidence = [
        f"{ns}/{name}: {'paused' if paused else 'NOT paused'}" for ns, name, paused in checks
    ]
    details = {
        "machineHealthChecks": [
            {"namespace": ns, "name": name, "paused": paused} for ns, name, paused in checks
        ]
    }
    if not checks:
        return outcome(PASS, f"no MachineHealthCheck in {MACHINE_API_NAMESPACE}", details=details)
    if not unpaused:
        return outcome(PASS, f"all {len(checks)} paused", evidence, details=details)
    return outcome(
        FAIL,
        f"{len(unpaused)} of {len(checks)} not paused: nodes rebooting during the update may "
        "be replaced",
        evidence,
        [
            f'oc annotate machinehealthcheck {quote(name)} -n {quote(ns)} {PAUSED_ANNOTATION}=""'
            for ns, name in unpaused
        ],
        details=details,
    )


def health_checks_resumed_item(snapshot: Snapshot) -> Outcome:
    checks = _health_checks(snapshot)
    if isinstance(checks, Unavailable):
        return unavailable([checks])
    paused = [(ns, name) for ns, name, is_paused in checks if is_paused]
    evidence = [f"{ns}/{name}: {'STILL paused' if p else 'active'}" for ns, name, p in checks]
    details = {
        "machineHealthChecks": [
            {"namespace": ns, "name": name, "paused": p} for ns, name, p in checks
        ]
    }
    if not paused:
        summary = f"all {len(checks)} active" if checks else "no MachineHealthCheck"
        return outcome(PASS, summary, evidence, details=details)
    return outcome(
        FAIL,
        f"{len(paused)} of {len(checks)} still paused: failed machines are not remediated",
        evidence,
        [
            f"oc annotate machinehealthcheck {quote(name)} -n {quote(ns)} {PAUSED_ANNOTATION}-"
            for ns, name in paused
        ],
        details=details,
    )
