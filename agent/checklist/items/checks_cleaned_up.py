"""Post-upgrade item 5: the release checks pre-upgrade added are removed from the checks
ConfigMap (advisory: warns only), whether it wrote them (``checklist.txt``) or asked for
them by hand (``images.txt``)."""

from __future__ import annotations

from shlex import quote

from agent.checklist.items.common import outcome, unavailable
from agent.checklist.model import PASS, WARN, Outcome, Unavailable
from agent.checklist.snapshot import Snapshot, checklist_lines
from agent.kube.contract import (
    CHECKLIST_FIELD_MANAGER,
    CHECKLIST_KEY,
    CHECKS_CONFIGMAP,
    IMAGES_KEY,
)


def _release_lines_added_by_hand(snapshot: Snapshot) -> list[str]:
    """Lines of the administrator's images.txt checking the cluster's desired release by
    manifest: what pre-upgrade asks to add by hand when it may not write checklist.txt."""
    if not isinstance(snapshot.checks, dict) or not isinstance(snapshot.cluster_version, dict):
        return []
    desired = ((snapshot.cluster_version.get("status") or {}).get("desired") or {}).get("image")
    if not isinstance(desired, str) or "@" not in desired:
        return []
    digest = desired.rsplit("@", 1)[1]
    text = (snapshot.checks.get("data") or {}).get(IMAGES_KEY) or ""
    return [
        line.strip()
        for line in text.splitlines()
        if line.split("#", 1)[0].strip().endswith("@" + digest) and "method=manifest" in line
    ]


def checks_cleanup_item(snapshot: Snapshot) -> Outcome:
    if isinstance(snapshot.checks, Unavailable):
        return unavailable([snapshot.checks], verdict=WARN)
    lines = checklist_lines(snapshot.checks)
    ns = snapshot.namespace
    by_hand = _release_lines_added_by_hand(snapshot)
    if not lines and by_hand:
        # pre-upgrade's fallback when it may not write: "add to data.images.txt: <release>"
        return outcome(
            WARN,
            f"{ns}/{CHECKS_CONFIGMAP} {IMAGES_KEY} still checks the release by manifest "
            "(added by hand for pre-upgrade; every node keeps re-checking it)",
            by_hand,
            [
                f"oc edit configmap {CHECKS_CONFIGMAP} -n {quote(ns)}   # remove from "
                f"data.{IMAGES_KEY}: {line}"
                for line in by_hand
            ],
            details={"lines": [], "imagesLines": by_hand},
        )
    if not lines:
        return outcome(
            PASS,
            f"configmap {ns}/{CHECKS_CONFIGMAP} has no {CHECKLIST_KEY} entries",
            details={"lines": []},
        )
    return outcome(
        WARN,
        f"{len(lines)} release check(s) from pre-upgrade are still in "
        f"{ns}/{CHECKS_CONFIGMAP} (every node keeps re-checking them)",
        lines,
        [
            f"agent checklist cleanup -n {quote(ns)}",
            f"oc patch configmap {CHECKS_CONFIGMAP} -n {quote(ns)} --type=json "
            f'-p \'[{{"op":"remove","path":"/data/{CHECKLIST_KEY}"}}]\'',
        ],
        details={"lines": lines, "fieldManager": CHECKLIST_FIELD_MANAGER},
    )
