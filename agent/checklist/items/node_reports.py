"""Post-upgrade item 3: every node re-checked after its last rollout; all pass; no source
registry contacted."""

from __future__ import annotations

from datetime import datetime
from shlex import quote
from typing import Any, Optional

from agent.checklist.items.common import grouped, outcome, unavailable, unavailable_parts
from agent.checklist.model import FAIL, PASS, WARN, ItemVerdict, Outcome, Unavailable
from agent.checklist.snapshot import Snapshot
from agent.collect import future_reason, parse_time
from agent.kube.contract import REPORT_KEY, no_report_found
from agent.report import worst


def node_reports_item(snapshot: Snapshot, *, now: Optional[datetime] = None) -> Outcome:
    states = snapshot.node_states()
    if isinstance(states, Unavailable) or isinstance(snapshot.reports, Unavailable):
        return unavailable(unavailable_parts(states, snapshot.reports))
    ns = snapshot.namespace
    reports = snapshot.reports.by_node
    rows: list[dict[str, Any]] = []
    evidence: list[str] = []
    pairs: list[tuple[str, str]] = []
    remediation: list[str] = []
    verdicts: list[ItemVerdict] = []
    expected = [node for node in states if node.expected]
    for node in expected:
        report = reports.get(node.name)
        problems: list[str] = []
        verdict: ItemVerdict = PASS
        if report is None:
            verdict, problems = FAIL, ["no report"]
            remediation.append(
                f"oc get pods -n {quote(ns)} -o wide "
                f"--field-selector spec.nodeName={quote(node.name)}"
            )
        else:
            checked = parse_time(report.checked_at)
            future = future_reason(checked, now) if checked and checked.tzinfo and now else None
            if future:
                verdict = FAIL
                problems.append(f"the report cannot be trusted: {future}")
            recorded = report.machine_config.get("currentConfig")
            restart = (
                f"oc delete pod -n {quote(ns)} -l app.kubernetes.io/name=mirror-agent "
                f"--field-selector spec.nodeName={quote(node.name)}   # re-checks at start"
            )
            if node.rolling_out:
                verdict = FAIL
                problems.append(
                    f"Machine Config rollout to {node.desired_config} still in progress"
                )
            elif not recorded:
                verdict = WARN
                problems.append("the report does not record the node's rendered config")
                remediation.append(restart)
            elif recorded != node.current_config:
                verdict = FAIL
                problems.append(
                    f"checked under {recorded}, before the rollout of {node.current_config}"
                )
                remediation.append(restart)
            if report.verdict != "pass":
                verdict = worst([verdict, WARN if report.verdict == "warn" else FAIL])
                findings = [f for i in report.images for f in i.findings] + list(report.findings)
                problems.append(
                    f"verdict {report.verdict}"
                    + (f": {'; '.join(findings[:3])}" if findings else "")
                )
                if report.verdict != "warn":
                    key = REPORT_KEY.replace(".", "\\.")  # a dot in a jsonpath key is escaped
                    remediation.append(
                        f"oc get configmap {quote(report.configmap)} "
                        f"-n {quote(snapshot.reports_namespace)} "
                        f"-o jsonpath='{{.data.{key}}}'   # the node's full report"
                    )
            contacted = [i.image for i in report.images if i.contacted_source]
            if contacted:
                verdict = FAIL
                problems.append("contacted a source registry for " + ", ".join(contacted))
        verdicts.append(verdict)
        if problems:
            pairs.append((node.name, "; ".join(problems)))
        rows.append(
            {
                "node": node.name,
                "verdict": verdict,
                "checkedAt": report.checked_at if report else None,
                "problems": problems,
            }
        )
    if expected and not reports:  # not one report: perhaps agents of an earlier version
        evidence.append(no_report_found(snapshot.reports_namespace, ns))
    evidence += grouped(pairs)  # nodes with the same problems: one line
    good = sum(1 for r in rows if r["verdict"] == PASS)
    evidence.insert(0, f"{good} of {len(rows)} expected nodes: fresh, passing, no source contacted")
    if not rows:
        verdicts.append(FAIL)
    verdict = worst(verdicts)
    summary = (
        f"all {len(rows)} expected nodes re-checked after their last rollout and pass"
        if verdict == PASS
        else f"{len(rows) - good} of {len(rows)} expected nodes need attention"
        if rows
        else "no node is expected to report"
    )
    return outcome(verdict, summary, evidence, remediation, details={"nodes": rows})
