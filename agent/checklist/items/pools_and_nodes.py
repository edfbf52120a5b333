"""Pre-upgrade item 5 and post-upgrade item 2: every MachineConfigPool updated and not
degraded, every node Ready."""

from __future__ import annotations

from shlex import quote

from agent.checklist.items.common import (
    condition_status,
    grouped,
    listed,
    outcome,
    unavailable_parts,
)
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome, Unavailable
from agent.checklist.snapshot import Snapshot
from agent.report import worst

COMMANDS_PER_STATE = 10  # nodes given a command each; the evidence counts the rest


def pools_and_nodes_item(snapshot: Snapshot) -> Outcome:
    parts = unavailable_parts(snapshot.pools, snapshot.nodes)
    evidence: list[str] = []
    remediation: list[str] = []
    verdicts: list[ItemVerdict] = []
    headline: list[str] = []
    pools_json = []
    nodes_json = []
    if not isinstance(snapshot.pools, Unavailable):
        for pool in sorted(
            snapshot.pools, key=lambda p: str((p.get("metadata") or {}).get("name"))
        ):
            name = str((pool.get("metadata") or {}).get("name"))
            status = pool.get("status") or {}
            degraded = condition_status(pool, "Degraded") == "True"
            updated = condition_status(pool, "Updated") == "True"
            paused = bool((pool.get("spec") or {}).get("paused"))
            counts = (
                f"{status.get('updatedMachineCount', '?')}/{status.get('machineCount', '?')} "
                f"updated, {status.get('degradedMachineCount', 0)} degraded"
            )
            rendered = (status.get("configuration") or {}).get("name") or "?"
            states = []
            if degraded:
                verdicts.append(FAIL)
                states.append("DEGRADED")
                remediation.append(f"oc describe mcp/{quote(name)}   # see the Degraded reason")
            if not updated:
                verdicts.append(FAIL)
                states.append("NOT updated")
                remediation.append(
                    f"oc wait mcp/{quote(name)} --for=condition=Updated=True --timeout=60m"
                )
            if paused:
                verdicts.append(WARN)
                states.append("paused")
                remediation.append(
                    f'oc patch mcp/{quote(name)} --type=merge -p \'{{"spec":{{"paused":false}}}}\''
                    "   # when the pool may update"
                )
            if states:
                headline.append(f"pool {name} {' and '.join(states)}")
            evidence.append(f"pool {name}: {', '.join(states) or 'updated'} ({counts}, {rendered})")
            pools_json.append(
                {"name": name, "updated": updated, "degraded": degraded, "paused": paused}
            )
    states_list = snapshot.node_states()
    if not isinstance(states_list, Unavailable):
        not_ready = [n for n in states_list if not n.ready]
        cordoned = [n for n in states_list if n.unschedulable]
        evidence.insert(0, f"{len(states_list) - len(not_ready)} of {len(states_list)} nodes Ready")
        # Nodes in the same state share one line of evidence; the first few get a command.
        evidence += grouped(
            ((n.name, f"NOT Ready ({n.ready_reason})") for n in not_ready), single="node "
        )
        evidence += grouped(((n.name, "SchedulingDisabled") for n in cordoned), single="node ")
        verdict: ItemVerdict
        for nodes, state, verdict in ((not_ready, "not Ready", FAIL), (cordoned, "cordoned", WARN)):
            if nodes:
                verdicts.append(verdict)
                headline.append(_nodes_in_state([n.name for n in nodes], state))
        for node in not_ready[:COMMANDS_PER_STATE]:
            remediation.append(f"oc describe node/{quote(node.name)}")
        for node in cordoned[:COMMANDS_PER_STATE]:
            remediation.append(f"oc adm uncordon {quote(node.name)}   # if no update is running")
        nodes_json = [
            {"node": n.name, "ready": n.ready, "unschedulable": n.unschedulable}
            for n in states_list
        ]
    for part in parts:
        verdicts.append(FAIL)
        headline.append(f"not checked: {part.text()}")
        evidence.append(f"not checked: {part.text()}")
    verdict = worst(verdicts)
    if verdict == PASS:
        summary = f"{len(pools_json)} pool(s) updated, every node Ready"
    else:
        summary = "; ".join(headline[:4]) + (
            f" (+{len(headline) - 4} more)" if len(headline) > 4 else ""
        )
    return outcome(
        verdict,
        summary,
        evidence,
        remediation,
        [p.permission for p in parts if p.permission],
        {"pools": pools_json, "nodes": nodes_json},
    )


def _nodes_in_state(names: list[str], state: str) -> str:
    if len(names) == 1:
        return f"node {names[0]} {state}"
    return f"{len(names)} nodes {state} ({listed(names)})"
