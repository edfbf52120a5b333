"""``agent collect``: the cluster summary as a table, JSON (written node by node), markdown
and JUnit (pure; the JSON writer takes the stream to write to)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from agent.output.junit import Case, Failure, junit_xml
from agent.output.text import aligned, short_digest

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.collect import NodeRow, Summary


def _node_state(row: NodeRow) -> str:
    if row.status in ("missing", "orphaned"):
        return row.status.upper()
    state = (row.verdict or "?").upper()
    if row.status == "stale":
        state += " (stale)"
    if row.drift:
        state += " (drift)"
    return state


def _served_text(row: NodeRow) -> str:
    return ", ".join(short_digest(served or "nothing") for _, served, _, _ in row.served) or "-"


def collect_table(summary: Summary, *, wide: bool = False) -> str:
    counts = summary.counts
    lines = [
        f"nodes: {counts['expected']} expected, {counts['reported']} reported — "
        f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
        f"{counts['error']} error, {counts['missing']} missing, {counts['stale']} stale, "
        f"{counts['orphaned']} orphaned, {counts['drift']} drift",
        "",
    ]
    rows = [["NODE", "STATE", "POOL", "CHECKED", "SERVED BY"]]
    for row in summary.nodes:
        rows.append(
            [row.node, _node_state(row), row.pool or "-", row.checked_at or "-", _served_text(row)]
        )
    lines += aligned(rows, indent="")
    for row in summary.nodes:
        notes = list(row.findings if wide else row.findings[:3])
        if row.stale_reason:
            notes.insert(0, f"stale: {row.stale_reason}")
        if row.drift:
            notes.insert(
                0,
                f"drift: registries.conf fingerprint {row.fingerprint} differs "
                + (f"in pool {row.pool}" if row.pool else "from the other nodes (pools unknown)"),
            )
        if notes:
            lines.append("")
            lines.append(f"{row.node}:")
            lines += [f"  {short_digest(note)}" for note in notes]
    if summary.images:
        lines.append("")
        image_rows = [["IMAGE", "NODES", "SERVED BY"]]
        for image in summary.images:
            served = ", ".join(
                f"{short_digest(location)} x{count}"
                for location, count in image["servedBy"].items()
            )
            image_rows.append([short_digest(image["image"]), str(image["nodes"]), served])
        lines += aligned(image_rows, indent="")
    lines.append("")
    lines.append("overall: " + ("OK" if summary.ok else "NOT OK"))
    return "\n".join(lines) + "\n"


def write_collect_json(summary: Summary, out: TextIO) -> None:
    """The JSON document written node by node: 5,000 nodes never sit in memory twice."""
    head = json.dumps(summary.to_json(nodes=False), indent=2)[:-2]  # without the closing brace
    out.write(head + ',\n  "nodes": [')
    for number, row in enumerate(summary.nodes):
        text = json.dumps(row.to_json(), indent=2).replace("\n", "\n    ")
        out.write(("," if number else "") + "\n    " + text)
    out.write("\n  ]\n}\n")


def collect_markdown(summary: Summary) -> str:
    counts = summary.counts
    lines = [
        "### mirror-agent: registry mirror verification",
        "",
        "| expected | reported | pass | warn | fail | error | missing | stale | orphaned | drift |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| "
        + " | ".join(
            str(counts[key])
            for key in (
                "expected",
                "reported",
                "pass",
                "warn",
                "fail",
                "error",
                "missing",
                "stale",
                "orphaned",
                "drift",
            )
        )
        + " |",
        "",
        "| node | state | pool | checked | served by |",
        "|---|---|---|---|---|",
    ]
    for row in summary.nodes:
        cells = [
            row.node,
            _node_state(row),
            row.pool or "-",
            row.checked_at or "-",
            _served_text(row),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines.append("")
    lines.append("**Overall: " + ("OK" if summary.ok else "NOT OK") + "**")
    return "\n".join(lines) + "\n"


def collect_junit(summary: Summary) -> str:
    """One test case per node: failures for fail/error/missing/stale/drift; an orphaned
    report (its node is gone) is a skipped case, as it does not change the exit code."""
    return junit_xml("mirror-agent", [_node_case(row) for row in summary.nodes], count_skipped=True)


def _node_case(row: NodeRow) -> Case:
    case = Case("mirror-agent.nodes", row.node)
    problem = None
    if row.status in ("missing", "stale"):
        problem = f"{row.status}" + (f": {row.stale_reason}" if row.stale_reason else "")
    elif row.status != "orphaned" and row.verdict in ("fail", "error"):
        problem = f"verdict {row.verdict}"
    elif row.drift:
        problem = f"registries.conf differs from its pool ({row.fingerprint})"
    if row.status == "orphaned":
        return replace(case, skipped="orphaned report: its node no longer exists")
    if problem:
        return replace(case, failure=Failure(problem, "\n".join(row.findings)))
    if row.verdict == "warn":
        return replace(case, output="\n".join(row.findings))
    return case
