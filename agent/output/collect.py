"""``agent collect``: the cluster summary as a table (nodes with the same result grouped;
``wide``: every node), JSON (written node by node), markdown and JUnit (pure; the JSON
writer takes the stream to write to)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from agent.output.grouping import (
    distinct_findings,
    first_names,
    group_nodes,
    node_notes,
    node_state,
    per_image,
    served_location,
)
from agent.output.junit import Case, Failure, junit_xml
from agent.output.text import aligned, short_digest, terminal_safe

if TYPE_CHECKING:  # annotations only: renderers are imported on every command's path
    from agent.collect import NodeRow, Summary


def _served_text(row: NodeRow) -> str:
    return ", ".join(short_digest(served or "nothing") for _, served, _, _ in row.served) or "-"


def _counts_line(summary: Summary) -> str:
    counts = summary.counts
    return (
        f"nodes: {counts['expected']} expected, {counts['reported']} reported — "
        f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
        f"{counts['error']} error, {counts['missing']} missing, {counts['stale']} stale, "
        f"{counts['orphaned']} orphaned, {counts['drift']} drift"
        + (f", {counts['unknown']} unknown" if counts.get("unknown") else "")
    )


def _recheck_lines(summary: Summary) -> list[str]:
    """``agent recheck`` requests: every node's, then one node's while it has not checked."""
    lines = []
    for progress in summary.recheck:
        total = len(progress.checked) + len(progress.waiting)
        if progress.target == "all":
            line = (
                f"recheck {progress.request_id} (every node, requested {progress.requested_at}): "
                f"{len(progress.checked)} of {total} node(s) have checked since"
            )
            if progress.waiting:
                line += "; waiting: " + first_names(list(progress.waiting), NAMES_SHOWN)
        elif progress.waiting:
            line = (
                f"recheck {progress.request_id} ({progress.target}, requested "
                f"{progress.requested_at}): not checked since"
            )
        else:
            continue
        lines.append(line)
    return lines


def collect_failed(summary: Summary, strict: bool) -> bool:
    """What the exit code says: NOT OK, or (``--strict``) a node that warns."""
    return not summary.ok or (strict and summary.counts["warn"] > 0)


def _overall(summary: Summary, strict: bool) -> str:
    if not summary.ok:
        return "NOT OK"
    if collect_failed(summary, strict):
        return (
            f"NOT OK — failed by --strict: {summary.counts['warn']} node(s) warn, and "
            "warnings fail in strict mode"
        )
    return "OK"


NAMES_SHOWN = 5  # node names per finding in the table; -o wide lists every node
GROUPS_SHOWN = 20  # group rows in the table; -o wide lists every node
FINDINGS_SHOWN = 10  # distinct findings in the table; -o markdown lists them all


def collect_table(summary: Summary, *, wide: bool = False, strict: bool = False) -> str:
    """Nodes with the same result as one row (``wide``: one row per node, every finding)."""
    if wide:
        return _wide_table(summary, strict)
    groups = group_nodes(summary.nodes)
    findings = distinct_findings(summary.nodes)
    number = {finding.text: index for index, finding in enumerate(findings, 1)}
    lines = [
        _counts_line(summary),
        *(f"warning: {warning}" for warning in summary.warnings),
        *_recheck_lines(summary),
        f"{len(groups)} distinct result(s) over {len(summary.nodes)} node(s); "
        "-o wide lists every node",
        "",
    ]
    # Each group names its findings by number; each finding is written once, below.
    rows = [["NODES", "STATE", "POOL", "CHECKED", "FINDINGS"]]
    for group in groups[:GROUPS_SHOWN]:
        shown = " ".join(f"#{number[note]}" for note in group.notes if note in number) or "-"
        rows.append([str(len(group.nodes)), group.state, group.pools, group.checked, shown])
    lines += aligned(rows, indent="")
    if len(groups) > GROUPS_SHOWN:
        rest = groups[GROUPS_SHOWN:]
        lines.append(
            f"… {len(rest)} more group(s) of {sum(len(g.nodes) for g in rest)} node(s): "
            "-o wide lists every node"
        )
    if findings:
        lines.append("")
    for index, finding in enumerate(findings[:FINDINGS_SHOWN], 1):
        lines.append(
            f"#{index} {finding.worst.upper()}, {len(finding.nodes)} node(s): "
            f"{first_names(finding.nodes, NAMES_SHOWN)}"
        )
        lines.append(f"   {short_digest(finding.text)}")
    if len(findings) > FINDINGS_SHOWN:
        lines.append(
            f"… {len(findings) - FINDINGS_SHOWN} more finding(s): -o markdown lists them all"
        )
    unexplained = [g for g in groups[:GROUPS_SHOWN] if not g.notes and g.state != "PASS"]
    if unexplained and not findings:
        lines.append("")
    for group in unexplained:  # e.g. ORPHANED: named, though no finding says why
        why = " (a report whose node no longer exists)" if group.state == "ORPHANED" else ""
        lines.append(
            f"{group.state}, {len(group.nodes)} node(s){why}: "
            f"{first_names(group.names, NAMES_SHOWN)}"
        )
    lines += _image_table(summary)
    lines.append("")
    lines.append("overall: " + _overall(summary, strict))
    return terminal_safe("\n".join(lines) + "\n")


def _image_table(summary: Summary) -> list[str]:
    images = per_image(summary.nodes)
    if not images:
        return []
    rows = [["IMAGE", "NODES", "PASS", "WARN", "FAIL/ERROR", "SERVED BY"]]
    for line in images:
        served = ", ".join(
            f"{short_digest(served_location(line.image, location))} x{count}"
            for (location, _kind), count in sorted(line.served.items(), key=_by_count)
        )
        rows.append(
            [
                short_digest(line.image),
                str(sum(line.verdicts.values())),
                str(line.verdicts["pass"]),
                str(line.verdicts["warn"]),
                str(line.verdicts["fail"] + line.verdicts["error"]),
                served,
            ]
        )
    lines = ["", *aligned(rows, indent="")]
    for image in summary.images:
        digests = image.get("servedDigests") or {}
        if len(digests) > 1:  # the same reference, different manifests on different nodes
            lines.append(
                f"DIFFERENT CONTENT  {short_digest(image['image'])}: nodes were served "
                + ", ".join(f"{short_digest(d)} x{count}" for d, count in digests.items())
            )
    return lines


def _by_count(pair: tuple[tuple[str, str], int]) -> tuple[int, str]:
    return (-pair[1], pair[0][0])


def _wide_table(summary: Summary, strict: bool) -> str:
    lines = [
        _counts_line(summary),
        *(f"warning: {w}" for w in summary.warnings),
        *_recheck_lines(summary),
        "",
    ]
    rows = [["NODE", "STATE", "POOL", "CHECKED", "SERVED BY"]]
    for row in summary.nodes:
        rows.append(
            [row.node, node_state(row), row.pool or "-", row.checked_at or "-", _served_text(row)]
        )
    lines += aligned(rows, indent="")
    for row in summary.nodes:
        notes = [note for note in node_notes(row) if not note.startswith("missing:")]
        if notes:
            lines.append("")
            lines.append(f"{row.node}:")
            lines += [f"  {note}" for note in notes]
    lines += _image_table(summary)
    lines.append("")
    lines.append("overall: " + _overall(summary, strict))
    return terminal_safe("\n".join(lines) + "\n")


def write_collect_json(summary: Summary, out: TextIO) -> None:
    """The JSON document written node by node: 5,000 nodes never sit in memory twice."""
    head = json.dumps(summary.to_json(nodes=False), indent=2)[:-2]  # without the closing brace
    out.write(head + ',\n  "nodes": [')
    for number, row in enumerate(summary.nodes):
        text = json.dumps(row.to_json(), indent=2).replace("\n", "\n    ")
        out.write(("," if number else "") + "\n    " + text)
    out.write("\n  ]\n}\n")


MARKDOWN_NAMES = 10  # affected nodes named per finding; the rest counted


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def collect_markdown(summary: Summary, *, strict: bool = False) -> str:
    """For a change ticket: the counts, each distinct finding once with the nodes it
    affects, the images (verdicts and sources per node count), the nodes grouped by
    result. Digests are whole: a reader may need to copy them."""
    counts = summary.counts
    keys = (
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
    lines = [
        "### mirror-agent: registry mirror verification",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        "| " + " | ".join(str(counts[key]) for key in keys) + " |",
    ]
    findings = distinct_findings(summary.nodes)
    lines += ["", "#### Findings", ""]
    if not findings:
        lines.append("None: every node passed without findings.")
    for finding in findings:
        nodes = finding.nodes
        lines.append(
            f"- **{finding.worst.upper()}**, {len(nodes)} node(s) "
            f"({first_names(nodes, MARKDOWN_NAMES)}): {_cell(finding.text)}"
        )
    images = per_image(summary.nodes)
    if images:
        lines += [
            "",
            "#### Images",
            "",
            "| image | nodes | pass | warn | fail/error | served by (nodes) |",
            "|---|---|---|---|---|---|",
        ]
        for line in images:
            served = "; ".join(
                f"{served_location(line.image, location)}"
                + (f" ({kind})" if location != "nothing" else "")
                + f": {count}"
                for (location, kind), count in sorted(line.served.items(), key=_by_count)
            )
            lines.append(
                f"| {_cell(line.image)} | {sum(line.verdicts.values())} | "
                f"{line.verdicts['pass']} | {line.verdicts['warn']} | "
                f"{line.verdicts['fail'] + line.verdicts['error']} | {_cell(served)} |"
            )
    lines += [
        "",
        "#### Nodes by result",
        "",
        "| nodes | state | pool | names |",
        "|---|---|---|---|",
    ]
    for group in group_nodes(summary.nodes):
        lines.append(
            f"| {len(group.nodes)} | {group.state} | {group.pools} | "
            f"{_cell(first_names(group.names, MARKDOWN_NAMES))} |"
        )
    lines.append("")
    lines.append("**Overall: " + _overall(summary, strict) + "**")
    return terminal_safe("\n".join(lines) + "\n")


def collect_junit(summary: Summary, *, strict: bool = False) -> str:
    """One test case per node: failures for fail/error/missing/stale/drift (and warn with
    ``strict``); an orphaned report (its node is gone) is a skipped case, as it does not
    change the exit code."""
    cases = [_node_case(row, strict) for row in summary.nodes]
    return junit_xml("mirror-agent", cases, count_skipped=True)


def _node_case(row: NodeRow, strict: bool = False) -> Case:
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
    if row.verdict == "warn" and strict:
        failure = Failure("verdict warn (failed by --strict)", "\n".join(row.findings))
        return replace(case, failure=failure)
    if row.verdict == "warn":
        return replace(case, output="\n".join(row.findings))
    return case
