"""Post-upgrade item 1: the ClusterVersion reached the desired release."""

from __future__ import annotations

from typing import Optional

from agent.checklist.items.common import condition_status, outcome, unavailable
from agent.checklist.model import FAIL, PASS, Outcome, Unavailable
from agent.checklist.snapshot import Snapshot
from agent.checklist.target import Target


def cluster_version_item(snapshot: Snapshot, target: Optional[Target]) -> Outcome:
    cv = snapshot.cluster_version
    if isinstance(cv, Unavailable):
        return unavailable([cv])
    if cv is None:
        return outcome(FAIL, "there is no ClusterVersion 'version'")
    status = cv.get("status") or {}
    desired = status.get("desired") or {}
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    latest = history[0] if history else {}
    evidence = [
        f"desired: {desired.get('version', '?')} ({desired.get('image', '?')})",
        f"latest history entry: {latest.get('version', '?')} {latest.get('state', '?')}"
        + (f" at {latest.get('completionTime')}" if latest.get("completionTime") else ""),
    ]
    problems = []
    if latest.get("state") != "Completed":
        problems.append(f"the latest update is {latest.get('state') or 'not recorded'}")
    if latest and latest.get("image") != desired.get("image"):
        problems.append("the latest history entry is not the desired release")
    if target is not None and not str(desired.get("image", "")).endswith("@" + target.digest):
        problems.append(f"the desired release is not {target.digest}")
    # An update the CVO refused (e.g. no signature) leaves status.desired, and a Completed
    # history entry, on the old release: only spec.desiredUpdate and ReleaseAccepted tell.
    requested = str(((cv.get("spec") or {}).get("desiredUpdate") or {}).get("image") or "")
    desired_digest = str(desired.get("image", "")).rsplit("@", 1)[-1]
    if requested and requested.rsplit("@", 1)[-1] != desired_digest:  # by digest: mirror or not
        problems.append(f"the requested update {requested} is not the desired release")
    conditions = {
        kind: condition_status(cv, kind)
        for kind in ("Available", "Progressing", "Failing", "ReleaseAccepted")
    }
    if conditions["ReleaseAccepted"] == "False":
        problems.append("ReleaseAccepted is False: the cluster refused the requested release")
    evidence.append(", ".join(f"{k}={v}" for k, v in conditions.items()))
    if conditions["Available"] != "True":
        problems.append("Available is not True")
    if conditions["Progressing"] == "True":
        problems.append("still Progressing")
    if conditions["Failing"] == "True":
        problems.append("Failing")
    details = {"desired": desired, "conditions": conditions, "history": history[:3]}
    if not problems:
        return outcome(PASS, f"{desired.get('version', '?')} completed", evidence, details=details)
    remediation = ["oc adm upgrade   # the update's status and its blocking conditions"]
    if conditions["Progressing"] == "True" and conditions["Failing"] != "True":
        remediation.append(
            "oc wait clusterversion/version --for=condition=Progressing=False --timeout=90m"
        )
    if conditions["Failing"] == "True" or conditions["Available"] != "True":
        remediation.append("oc get clusteroperators   # which operator is degraded or unavailable")
    return outcome(FAIL, "; ".join(problems), evidence, remediation, details=details)
