"""Pre-upgrade item 6: no PodDisruptionBudget blocks node drains (advisory: warns only)."""

from __future__ import annotations

from shlex import quote

from agent.checklist.items.common import outcome, unavailable
from agent.checklist.model import PASS, WARN, Outcome, Unavailable
from agent.checklist.snapshot import Snapshot


def drain_blockers_item(snapshot: Snapshot) -> Outcome:
    if isinstance(snapshot.budgets, Unavailable):
        return unavailable([snapshot.budgets], verdict=WARN)
    blockers = []
    for budget in snapshot.budgets:
        metadata = budget.get("metadata") or {}
        spec, status = budget.get("spec") or {}, budget.get("status") or {}
        if "disruptionsAllowed" not in status:
            continue
        if (
            int(status.get("disruptionsAllowed") or 0) > 0
            or int(status.get("expectedPods") or 0) == 0
        ):
            continue
        rule = (
            f"minAvailable {spec['minAvailable']}"
            if "minAvailable" in spec
            else f"maxUnavailable {spec.get('maxUnavailable')}"
        )
        blockers.append(
            (
                str(metadata.get("namespace")),
                str(metadata.get("name")),
                f"{rule}; {status.get('currentHealthy', '?')} healthy of "
                f"{status.get('expectedPods', '?')} expected; 0 disruptions allowed",
            )
        )
    blockers.sort()
    details = {"blockers": [{"namespace": ns, "name": n, "why": w} for ns, n, w in blockers]}
    if not blockers:
        return outcome(
            PASS,
            f"none of {len(snapshot.budgets)} PodDisruptionBudgets is at zero disruptions",
            details=details,
        )
    return outcome(
        WARN,
        f"{len(blockers)} PodDisruptionBudget(s) allow no disruption: drains will wait on them",
        [f"{ns}/{name}: {why}" for ns, name, why in blockers],
        [
            f"oc get pdb {quote(name)} -n {quote(ns)} -o yaml   # scale the workload up, or "
            "relax the budget for the update and restore it afterwards"
            for ns, name, _ in blockers
        ],
        details=details,
    )
