"""Item 2 when the Machine Config Operator refuses to render the mirror sets (pure).

The controller stops before it writes a MachineConfig: the MachineConfigPools do not
update and every node keeps the registries.conf it has. So the refusal is the finding, and
each node is held to its own current file (nodes on one rendered config should all hold
the same one), never to the rules the refused objects describe.
"""

from __future__ import annotations

from collections.abc import Sequence
from shlex import quote
from typing import Any

from agent.checklist.items.common import listed
from agent.checklist.mco_validation import (
    ICSP_WITH_IDMS,
    IMAGE,
    MIXED_KINDS_FIXED_IN,
    Refusal,
)
from agent.checklist.mirror_sets import ICSP, IDMS, ITMS
from agent.checklist.model import PASS, WARN, ItemVerdict
from agent.checklist.snapshot import NodeState, Reports

_RESOURCES = {
    ICSP: "imagecontentsourcepolicy",
    IDMS: "imagedigestmirrorset",
    ITMS: "imagetagmirrorset",
    IMAGE: "image.config.openshift.io",
}
CONTROLLER_LOGS = (
    "oc logs -n openshift-machine-config-operator deployment/machine-config-controller "
    "-c machine-config-controller"
)


# With the cluster's version unknown the objects are judged by the rules of current MCO
# releases, which may not be the cluster's: the refusal is then hedged.
UNKNOWN_VERSION_REFUSAL = (
    "would be refused by OCP >= 4.16's MCO (the cluster's version is unknown: pass --ocp-version)"
)


def refusal_evidence(refusals: Sequence[Refusal], *, version_known: bool = True) -> list[str]:
    if version_known:
        lines = [
            "the Machine Config Operator refuses to render the mirror sets: the "
            "MachineConfigPools will not update and every node keeps its current "
            "registries.conf"
        ]
        prefix = "MCO refusal"
    else:
        lines = [
            f"the mirror sets {UNKNOWN_VERSION_REFUSAL}: if the cluster's MCO refuses them, "
            "the MachineConfigPools will not update and every node keeps its current "
            "registries.conf"
        ]
        prefix = "MCO refusal (OCP >= 4.16)"
    lines += [f"{prefix}: {refusal.text()}" for refusal in refusals]
    return lines


def refusal_remediation(refusals: Sequence[Refusal]) -> list[str]:
    commands = []
    for refusal in refusals:
        fix = (
            f"oc get {_RESOURCES[refusal.kind]}/{quote(refusal.name)} -o yaml"
            f"   # fix {refusal.field}"
        )
        if refusal.code == ICSP_WITH_IDMS:
            fix = (
                f"oc get {_RESOURCES[refusal.kind]}/{quote(refusal.name)} -o yaml"
                "   # save it to a file, convert it with oc adm migrate icsp FILE --dest-dir "
                "DIR, apply the ImageDigestMirrorSet written there and delete the ICSP (or "
                f"update to {_fixed_releases()}, which render both)"
            )
        if fix not in commands:
            commands.append(fix)
    # The controller logs the first refusal only, in its own words.
    words = refusals[0].message.split(":", 1)[0]
    commands.append(f"{CONTROLLER_LOGS} | grep -F {quote(words)}")
    return commands


def _fixed_releases() -> str:
    return " / ".join(f"{major}.{minor}.{z}+" for (major, minor), z in MIXED_KINDS_FIXED_IN.items())


def possible_refusal_evidence(refusals: Sequence[Refusal]) -> list[str]:
    """Refusals of some z-streams of the cluster's minor, its z-stream unknown."""
    return [
        f"possibly refused by the MCO (its z-stream unknown: pass --ocp-version 4.y.z): "
        f"{refusal.text()}"
        for refusal in refusals
    ]


def keep_current_files(
    states: Sequence[NodeState],
    reports: Reports,
    evidence: list[str],
    node_results: list[dict[str, Any]],
) -> list[ItemVerdict]:
    """Each node with a report is compared with what it should hold: its current file."""
    verdicts: list[ItemVerdict] = []
    by_config: dict[tuple[str, str], dict[str, list[str]]] = {}
    missing = []
    for node in states:
        if not node.expected:
            continue
        report = reports.by_node.get(node.name)
        if report is None:
            missing.append(node.name)
            node_results.append(
                {
                    "node": node.name,
                    "verdict": WARN,
                    "compared": False,
                    "reason": "no report",
                    "differences": [],
                }
            )
            continue
        node_results.append(
            {
                "node": node.name,
                "verdict": PASS,
                "compared": True,
                "expected": "its current registries.conf (the MCO renders nothing)",
                "fingerprint": report.fingerprint,
                "rollingOut": node.rolling_out,
                "differences": [],
            }
        )
        if report.fingerprint and not node.rolling_out:
            key = (node.pool or "worker", node.current_config or "?")
            by_config.setdefault(key, {}).setdefault(report.fingerprint, []).append(node.name)
    evidence.append(
        "nodes not compared with the mirror sets: each should keep its current registries.conf"
    )
    if missing:
        verdicts.append(WARN)
        evidence.append(f"not compared (no report): {listed(missing)}")
    for (pool, config), groups in sorted(by_config.items()):
        if len(groups) > 1:
            verdicts.append(WARN)
            held = "; ".join(
                f"{fingerprint[:19]}…: {listed(names)}" for fingerprint, names in groups.items()
            )
            evidence.append(
                f"pool {pool}: nodes on {config} hold different registries.conf files ({held})"
            )
    return verdicts
