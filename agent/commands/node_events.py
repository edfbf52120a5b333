"""Node events of ``agent run``: when a node's verdict changes (failing, warning,
recovered), one Kubernetes Event on its Node, so ``oc describe node`` and the console's
events show it. The decision and the message are pure (:func:`verdict_event`);
:class:`EventingSend` wraps the report's publishing and hands events to the recorder
(agent/kube/events.py), whose errors never stop a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

from agent.errors import AgentError
from agent.kube.client import KubeClient
from agent.kube.events import NodeEventRecorder
from agent.node.last_verdict import LastVerdictFile
from agent.report import CheckReport, ImageResult

EventType = Literal["Normal", "Warning"]
MESSAGE_MAX = 1024  # an Event's note limit (events.k8s.io); kept for core/v1 too
NEXT_STEP = "Details: oc mirror-agent collect -o wide"


@dataclass(frozen=True)
class VerdictEvent:
    reason: str  # CamelCase, as Event reasons are
    type: EventType
    message: str


_REASONS: dict[str, tuple[str, EventType]] = {
    "fail": ("MirrorCheckFailed", "Warning"),
    "error": ("MirrorCheckError", "Warning"),
    "warn": ("MirrorCheckWarning", "Warning"),
    "pass": ("MirrorCheckRecovered", "Normal"),
}


def verdict_event(previous: Optional[str], report: CheckReport) -> Optional[VerdictEvent]:
    """The event a new report calls for: none while the verdict stays the same, none for a
    first report that passes (``previous`` None: nothing was known before)."""
    verdict = report.verdict
    if verdict == previous or verdict not in _REASONS:
        return None
    if verdict == "pass" and previous is None:
        return None
    reason, kind = _REASONS[verdict]
    if verdict == "pass":
        message = (
            f"Mirror check passes again on {report.node} (was {previous}): "
            f"{len(report.images)} image(s) served as the mirror rules say."
        )
    else:
        message = _problem_message(report)
    return VerdictEvent(reason, kind, _clip(message))


def _problem_message(report: CheckReport) -> str:
    bad = [image for image in report.images if image.verdict == report.verdict]
    head = f"Mirror check {report.verdict} on {report.node}"
    if bad:
        head += f": {len(bad)} of {len(report.images)} image(s)"
        first = bad[0]
        detail = f"{first.image}: {_what_happened(first)}"
    else:
        node_level = [f for f in report.findings if f.severity == report.verdict]
        detail = "; ".join(f"{f.code}: {f.message}" for f in node_level[:2]) or "see the report"
    return f"{head}. {detail}. {NEXT_STEP}"


def _what_happened(image: ImageResult) -> str:
    failed = [
        f"{attempt.location} ({attempt.reason or attempt.outcome})"
        for attempt in image.attempts
        if attempt.outcome in ("failed", "hung")
    ]
    findings = [f for f in image.findings if f.severity == image.verdict]
    parts = [f"{findings[0].code}" if findings else image.verdict]
    if image.served_by:
        parts.append(f"served by {image.served_by_kind or 'source'} {image.served_by}")
    if failed:
        parts.append("failing: " + ", ".join(failed))
    elif findings:
        parts.append(findings[0].message)
    return "; ".join(parts)


def _clip(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + "…"


class EventingSend:
    """Publishes a report (``send``), then records the event its verdict change calls for.

    The verdict before the first report is the one ``remembered`` holds (the last
    published, kept beside the heartbeat), so a restarted agent does not announce a
    failure the node already had. An event is recorded once its report is published: a
    report that failed to publish is retried, and the event with it. A failed event is
    logged and dropped.
    """

    def __init__(
        self,
        send: Callable[[CheckReport], None],
        record: Callable[[VerdictEvent], None],
        remembered: LastVerdictFile,
        log: Callable[[dict[str, object]], None] = lambda fields: None,
    ) -> None:
        self._send = send
        self._record = record
        self._remembered = remembered
        self.log = log
        self._known = False
        self.previous: Optional[str] = None

    def __call__(self, report: CheckReport) -> None:
        if not self._known:
            self.previous = self._remembered.read()
            self._known = True
        self._send(report)
        event = verdict_event(self.previous, report)
        self.previous = report.verdict
        self._remembered.write(report.verdict)
        if event is None:
            return
        try:
            self._record(event)
        except AgentError as error:
            self.log({"event": "node-event-failed", "reason": event.reason, "error": str(error)})
        else:
            self.log({"event": "node-event", "reason": event.reason, "type": event.type})


def with_node_events(
    send: Callable[[CheckReport], None],
    client: KubeClient,
    *,
    node: str,
    remembered: LastVerdictFile,
) -> EventingSend:
    """``send`` (the report's publisher) with the node's events recorded through
    ``client``; the verdict before the first report is the one ``remembered`` holds."""
    recorder = NodeEventRecorder(client, node)

    def record(event: VerdictEvent) -> None:
        recorder.record(event.reason, event.type, event.message)

    return EventingSend(send, record, remembered)
