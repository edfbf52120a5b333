"""``agent checklist``: for people (table), for change tickets (markdown), for CI (JUnit) and
for scripts (JSON). Pure: strings in, strings out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from agent.checklist.items import spec_of
from agent.checklist.items.common import PLACEHOLDERS, placeholders_in
from agent.checklist.model import FAIL, PASS, WARN, Checklist
from agent.output.junit import Case, Failure, junit_xml
from agent.output.text import terminal_safe

EVIDENCE_LINES = 12  # per item in the table; markdown and JSON show every line
_LABEL = {PASS: "PASS", WARN: "WARN", FAIL: "FAIL"}


def _header(checklist: Checklist) -> list[tuple[str, str]]:
    cluster = checklist.cluster
    rows = [
        (
            "cluster",
            f"{cluster.get('server', '?')} (OpenShift {cluster.get('ocpVersion')}"
            f", from {cluster.get('ocpVersionFrom')})",
        )
    ]
    if checklist.target:
        rows.append(("target", str(checklist.target.get("image"))))
        source = checklist.target.get("sourceRepository")
        payload = checklist.target.get("payloadRepository") or "unknown"
        rows.append(("repositories", f"release {source}, payload {payload}"))
    rows.append(("changes", checklist.changes_text()))
    rows += [("note", note) for note in checklist.notes]
    return rows


def _overall(checklist: Checklist, strict: bool) -> str:
    counts = checklist.counts()
    state = "FAIL" if checklist.failed(strict) else _LABEL[checklist.verdict]
    text = f"{state} ({counts[PASS]} pass, {counts[WARN]} warn, {counts[FAIL]} fail)"
    if strict and checklist.verdict == WARN:
        text += " — failed by --strict: warnings fail in strict mode"
    return text


def to_json(checklist: Checklist, *, strict: bool = False) -> str:
    document = checklist.to_json()
    # as the exit code and the other formats have it: warnings fail with --strict
    document["strict"], document["failed"] = strict, checklist.failed(strict)
    return json.dumps(document, indent=2) + "\n"


def table(checklist: Checklist, *, strict: bool = False) -> str:
    lines = [f"mirror-agent checklist {checklist.kind}", ""]
    width = max(len(key) for key, _ in _header(checklist))
    lines += [f"{key + ':':<{width + 1}} {value}" for key, value in _header(checklist)]
    lines.append("")
    title_width = max(len(item.title) for item in checklist.items)
    lines.append(f"#  {'ITEM':<{title_width}}  VERDICT")
    for item in checklist.items:
        lines.append(f"{item.number:<2} {item.title:<{title_width}}  {_LABEL[item.verdict]}")
    for item in checklist.items:
        lines.append("")
        lines.append(f"{item.number}. {item.title}: {_LABEL[item.verdict]}")
        lines.append(f"   {item.summary}")
        shown = list(item.evidence[:EVIDENCE_LINES])
        lines += [f"   - {line}" for line in shown]
        if len(item.evidence) > EVIDENCE_LINES:
            lines.append(f"   - … {len(item.evidence) - EVIDENCE_LINES} more (-o json lists all)")
        for permission in item.missing_permissions:
            lines.append(f"   ! {permission.text()}")
        if item.remediation:
            fixes = item.verdict != PASS and _commands_are_fixes(item.id)
            lines.append("   fix:" if fixes else "   run:")
            for command in item.remediation:
                first, *rest = command.split("\n")
                lines.append(f"     $ {first}")
                # Flush-left: a heredoc's terminator must start its line to close it.
                lines += rest
            lines += [f"     {line}" for line in _variables(item.remediation)]
    lines += ["", f"overall: {_overall(checklist, strict)}"]
    return terminal_safe("\n".join(lines) + "\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(checklist: Checklist, *, strict: bool = False) -> str:
    lines = [f"### mirror-agent checklist: {checklist.kind}", ""]
    lines += [f"- **{key}:** {_cell(value)}" for key, value in _header(checklist)]
    lines += ["", "| # | item | verdict | summary |", "|---|---|---|---|"]
    for item in checklist.items:
        lines.append(
            f"| {item.number} | {_cell(item.title)} | **{_LABEL[item.verdict]}** | "
            f"{_cell(item.summary)} |"
        )
    for item in checklist.items:
        lines += ["", f"#### {item.number}. {item.title}: {_LABEL[item.verdict]}", ""]
        lines.append(item.summary)
        if item.evidence:
            lines.append("")
            lines += [f"- {_md_line(line)}" for line in item.evidence]
        for permission in item.missing_permissions:
            lines.append(f"- :warning: {permission.text()}")
        if item.remediation:
            lines += ["", "```sh", *item.remediation, "```"]
            lines += [f"- {line}" for line in _variables(item.remediation)]
    lines += [
        "",
        f"**Overall: {_overall(checklist, strict)}** — generated {checklist.generated_at}",
    ]
    return terminal_safe("\n".join(lines) + "\n")


def _variables(commands: Sequence[str]) -> list[str]:
    """What to set the variables of these commands to, before pasting them."""
    return [f"set {name}: {PLACEHOLDERS[name]}" for name in placeholders_in(commands)]


def _md_line(text: str) -> str:
    return text.replace("\n", " ")


def _commands_are_fixes(item_id: str) -> bool:
    """Fixes, or the step itself (the upgrade command): the registry says."""
    spec = spec_of(item_id)
    return spec is None or spec.commands_are_fixes


def junit(checklist: Checklist, *, strict: bool = False) -> str:
    """One test case per item; failures for fail (and warn with --strict)."""
    cases = []
    for item in checklist.items:
        case = Case(f"mirror-agent.checklist.{checklist.kind}", f"{item.number}. {item.title}")
        detail = "\n".join(
            [*item.evidence, *(p.text() for p in item.missing_permissions)]
            + [f"fix: {command}" for command in item.remediation]
        )
        if item.verdict == FAIL or (strict and item.verdict == WARN):
            cases.append(replace(case, failure=Failure(item.summary, detail)))
        else:
            cases.append(replace(case, output=item.summary + "\n" + detail))
    return junit_xml(
        f"mirror-agent checklist {checklist.kind}", cases, timestamp=checklist.generated_at
    )


def render(checklist: Checklist, output: str, *, strict: bool = False) -> str:
    if output == "json":
        return to_json(checklist, strict=strict)
    if output == "markdown":
        return markdown(checklist, strict=strict)
    if output == "junit":
        return junit(checklist, strict=strict)
    return table(checklist, strict=strict)
