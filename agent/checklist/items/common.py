"""What the item modules share (pure): building an outcome, an item that could not be
checked, short lists of node names, and a condition's status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from agent.checklist.model import FAIL, ItemVerdict, Outcome, Permission, Unavailable

MAX_LISTED = 20  # nodes named per line of evidence; JSON details list them all


def outcome(
    verdict: ItemVerdict,
    summary: str,
    evidence: Iterable[str] = (),
    remediation: Iterable[str] = (),
    permissions: Iterable[Permission] = (),
    details: Optional[Mapping[str, Any]] = None,
) -> Outcome:
    return Outcome(
        verdict=verdict,
        summary=summary,
        evidence=tuple(evidence),
        remediation=tuple(dict.fromkeys(remediation)),  # each command once, in order
        missing_permissions=tuple(dict.fromkeys(permissions)),
        details=details or {},
    )


def unavailable(parts: Sequence[Unavailable], verdict: ItemVerdict = FAIL) -> Outcome:
    """An item that could not be checked: which permission (or what error) is missing."""
    permissions = [part.permission for part in parts if part.permission]
    return outcome(
        verdict,
        "not checked: " + "; ".join(part.text() for part in parts),
        evidence=[part.message for part in parts],
        permissions=permissions,
    )


def unavailable_parts(*parts: object) -> list[Unavailable]:
    """The parts of the snapshot that could not be read."""
    return [part for part in parts if isinstance(part, Unavailable)]


def listed(names: Sequence[str]) -> str:
    """The first ``MAX_LISTED`` names, and how many more."""
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def condition_status(obj: Mapping[str, Any], kind: str) -> Optional[str]:
    """``status`` of the object's condition of type ``kind`` ("True", "False", ...)."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return str(condition.get("status"))
    return None
