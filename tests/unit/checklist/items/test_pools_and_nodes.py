"""Pre-upgrade item 5 and post-upgrade item 2: pools updated and not degraded, nodes Ready."""

from __future__ import annotations

from agent.checklist.items import POST_UPGRADE, evaluate
from agent.checklist.items.facts import PostUpgradeFacts
from agent.checklist.items.pools_and_nodes import pools_and_nodes_item
from agent.checklist.model import FAIL, PASS
from tests.unit.checklist.factories import forbidden, healthy_snapshot, node, pool


def test_pools_and_nodes() -> None:
    assert pools_and_nodes_item(healthy_snapshot()).verdict == PASS
    broken = healthy_snapshot(
        pools=[
            pool("master"),
            pool("worker", degraded=True),
            pool("infra", updated=False),
            pool("edge", paused=True),
        ],
        nodes=[node("worker-0", ready=False), node("worker-1", unschedulable=True)],
    )
    item = evaluate(POST_UPGRADE, PostUpgradeFacts(broken))[1]  # as post-upgrade numbers it
    assert (item.id, item.number, item.verdict) == ("pools-and-nodes", 2, FAIL)
    assert item.summary == (
        "pool edge paused; pool infra NOT updated; pool worker DEGRADED; node worker-0 not Ready "
        "(+1 more)"
    )
    assert item.remediation == (
        'oc patch mcp/edge --type=merge -p \'{"spec":{"paused":false}}\''
        "   # when the pool may update",
        "oc wait mcp/infra --for=condition=Updated=True --timeout=60m",
        "oc describe mcp/worker   # see the Degraded reason",
        "oc describe node/worker-0",
        "oc adm uncordon worker-1   # if no update is running",
    )
    denied = pools_and_nodes_item(
        healthy_snapshot(
            pools=forbidden("list", "machineconfigpools.machineconfiguration.openshift.io")
        )
    )
    assert denied.verdict == FAIL and "3 of 3 nodes Ready" in denied.evidence
    assert (
        denied.missing_permissions[0].resource
        == "machineconfigpools.machineconfiguration.openshift.io"
    )


def test_nodes_in_the_same_state_share_one_line_without_a_stray_prefix() -> None:
    names = [f"worker-{n}" for n in range(20)]
    many = healthy_snapshot(
        nodes=[node(name, ready=False) for name in names] + [node("infra-0", ready=False)]
    )
    # One node's line is "node NAME: …"; several nodes' lines start with their count.
    item = pools_and_nodes_item(many)
    lines = [line for line in item.evidence if "NOT Ready" in line]
    assert len(lines) == 1 and lines[0].startswith("21 nodes (infra-0, worker-0, worker-1, ")
    assert not any(line.startswith("node 2") for line in item.evidence)
    assert item.summary.startswith("21 nodes not Ready (infra-0, worker-0, ")
    one = pools_and_nodes_item(healthy_snapshot(nodes=[node("worker-0", ready=False)]))
    assert any(line.startswith("node worker-0: NOT Ready") for line in one.evidence)
    assert one.summary == "node worker-0 not Ready"
