"""The checklist's typed results and its versioned JSON (pure).

Schema version: ``CHECKLIST_SCHEMA_VERSION`` (agent/schema.py; documented in the README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Optional, Union, get_args

from agent.report import Verdict, worst
from agent.schema import CHECKLIST_SCHEMA_VERSION
from agent.vocabulary import Json

# An item's verdicts: a report's, without error.
ItemVerdict = Literal["pass", "warn", "fail"]
VERDICTS: tuple[ItemVerdict, ...] = get_args(ItemVerdict)
PASS: Final = "pass"
WARN: Final = "warn"
FAIL: Final = "fail"


@dataclass(frozen=True)
class Permission:
    """An API permission the checklist lacked: what RBAC must grant."""

    verb: str
    resource: str  # plural, or plural.group as RBAC and kubectl name it
    namespace: Optional[str] = None  # None: cluster scope (or all namespaces for a list)

    def text(self) -> str:
        where = f" (in {self.namespace})" if self.namespace else ""
        return f"missing permission: {self.verb} {self.resource}{where}"

    def to_json(self) -> dict[str, Any]:
        return {"verb": self.verb, "resource": self.resource, "namespace": self.namespace}


@dataclass(frozen=True)
class Unavailable:
    """What the API did not give us instead of an object or list."""

    message: str
    permission: Optional[Permission] = None  # set for a 403

    def text(self) -> str:
        return self.permission.text() if self.permission else self.message


# A fetched object (None: it does not exist) or list, or why it could not be read.
FetchedObject = Union[Optional[Json], Unavailable]
FetchedList = Union[list[Json], Unavailable]


@dataclass(frozen=True)
class Outcome:
    """What an item's check concludes; the registry (agent/checklist/items) adds the item's
    id, number and title to make it an :class:`Item`."""

    verdict: ItemVerdict
    summary: str
    evidence: tuple[str, ...] = ()
    remediation: tuple[str, ...] = ()  # commands, each ready to paste (may span lines)
    missing_permissions: tuple[Permission, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # item-specific, JSON-ready


@dataclass(frozen=True)
class Item:
    """One line of the checklist: a verdict, the evidence, and the commands that fix it."""

    id: str  # stable identifier, documented
    number: int
    title: str
    verdict: ItemVerdict
    summary: str
    evidence: tuple[str, ...] = ()
    remediation: tuple[str, ...] = ()  # commands, each ready to paste (may span lines)
    missing_permissions: tuple[Permission, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # item-specific, JSON-ready

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "verdict": self.verdict,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "remediation": list(self.remediation),
            "missingPermissions": [p.to_json() for p in self.missing_permissions],
            "details": dict(self.details),
        }

    @classmethod
    def of(cls, item_id: str, number: int, title: str, outcome: Outcome) -> Item:
        return cls(
            id=item_id,
            number=number,
            title=title,
            verdict=outcome.verdict,
            summary=outcome.summary,
            evidence=outcome.evidence,
            remediation=outcome.remediation,
            missing_permissions=outcome.missing_permissions,
            details=outcome.details,
        )


# What the checklist did to its entry of the checks ConfigMap.
ChangeAction = Literal["applied", "removed"]
# Which checklist ran: before the update, or after it.
ChecklistKind = Literal["pre-upgrade", "post-upgrade"]


@dataclass(frozen=True)
class Change:
    """A write the checklist made (only the checks ConfigMap entry of pre-upgrade)."""

    action: ChangeAction
    namespace: str
    name: str
    key: str
    field_manager: str
    lines: tuple[str, ...] = ()
    error: Optional[str] = None  # the write was refused or failed

    def text(self) -> str:
        what = f"data key {self.key} of configmap {self.namespace}/{self.name}"
        if self.error:
            return f"could not change {what}: {self.error}"
        return f"{self.action} {what} (field manager {self.field_manager})"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": "configmaps",
            "namespace": self.namespace,
            "name": self.name,
            "key": self.key,
            "fieldManager": self.field_manager,
            "lines": list(self.lines),
            "error": self.error,
        }


@dataclass(frozen=True)
class Checklist:
    kind: ChecklistKind
    generated_at: str  # RFC 3339, UTC
    items: tuple[Item, ...]
    cluster: Mapping[str, Any] = field(default_factory=dict)
    target: Optional[Mapping[str, Any]] = None
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()
    agent_version: str = ""

    @property
    def verdict(self) -> Verdict:
        return worst([item.verdict for item in self.items])

    def counts(self) -> dict[str, int]:
        return {verdict: sum(1 for i in self.items if i.verdict == verdict) for verdict in VERDICTS}

    def failed(self, strict: bool) -> bool:
        return self.verdict == FAIL or (strict and self.verdict == WARN)

    @property
    def read_only(self) -> bool:
        return not any(change.error is None for change in self.changes)

    def changes_text(self) -> str:
        if not self.changes:
            return "none: this checklist only reads from the cluster"
        done = [c.text() for c in self.changes]
        return "; ".join(done) + "; nothing else was changed"

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": CHECKLIST_SCHEMA_VERSION,
            "checklist": self.kind,
            "generatedAt": self.generated_at,
            "agentVersion": self.agent_version,
            "cluster": dict(self.cluster),
            "target": dict(self.target) if self.target is not None else None,
            "verdict": self.verdict,
            "summary": self.counts(),
            "readOnly": self.read_only,
            "changes": [change.to_json() for change in self.changes],
            "notes": list(self.notes),
            "items": [item.to_json() for item in self.items],
        }
