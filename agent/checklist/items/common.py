"""What the item modules share (pure): building an outcome, an item that could not be
checked, short lists of node names, evidence grouped by node, the placeholders of commands,
and a condition's status."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from shlex import quote
from typing import Any, Optional

from agent.checklist.model import FAIL, ItemVerdict, Outcome, Permission, Unavailable
from agent.kube.contract import MCD_REASON, MCD_STATE

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


def grouped(pairs: Iterable[tuple[str, str]], *, single: str = "") -> list[str]:
    """Evidence of (node, message) pairs, one line per distinct message in first-seen order:
    ``node: message`` for one node (``single`` before it, e.g. "node "), ``N nodes (a, b,
    …): message`` for several, so that 500 nodes with the same problem make one line."""
    nodes: dict[str, list[str]] = {}
    for node, message in pairs:
        nodes.setdefault(message, []).append(node)
    return [
        f"{single}{names[0]}: {message}"
        if len(names) == 1
        else f"{len(names)} nodes ({listed(names)}): {message}"
        for message, names in nodes.items()
    ]


# What only the administrator knows appears in a command as a shell variable, named in the
# command's comment; a command with `<…>` placeholders would be a redirection when pasted.
PULL_SECRET = '"$PULL_SECRET"'  # a pull secret file (registry credentials, as podman writes)
RELEASE_TAG = "${OCP_RELEASE}-${ARCHITECTURE}"  # e.g. 4.15.3-x86_64, as oc's docs name them
#: Every variable a command may use, and what to set it to (the renderers print it once).
PLACEHOLDERS: Mapping[str, str] = {
    "PULL_SECRET": "a pull secret file with the credentials the command needs",
    "OCP_RELEASE": "the release's version, e.g. 4.15.3",
    "ARCHITECTURE": "the release's architecture, e.g. x86_64",
    "MIRROR_REPOSITORY": "the repository the release was mirrored to (oc adm release mirror --to)",
    "OC_MIRROR_WORKSPACE": "the oc-mirror workspace the release was mirrored with",
    "MIRROR_CA": "the PEM file of the CA that signed the mirror registry's certificate",
}


def placeholders_in(commands: Iterable[str]) -> list[str]:
    """The variables these commands use, in PLACEHOLDERS order."""
    text = "\n".join(commands)
    return [
        name for name in PLACEHOLDERS if re.search(r"\$(\{" + name + r"\}|" + name + r"\b)", text)
    ]


def annotation_path(name: str) -> str:
    """A jsonpath to an annotation: the dots of its name escaped, as jsonpath wants."""
    return "{.metadata.annotations." + name.replace(".", "\\.") + "}"


def pool_status_commands(pool: Optional[str], node: str) -> list[str]:
    """Why a node runs other rules than its pool renders: the pool's conditions and what
    the Machine Config Daemon says on the node (rather than forcing the daemon on a
    production node)."""
    state, reason = annotation_path(MCD_STATE), annotation_path(MCD_REASON)
    return [
        f"oc describe mcp/{quote(pool or 'worker')}   # Degraded/NodeDegraded conditions: why "
        "a node did not apply the rendered config",
        f'oc get node/{quote(node)} -o jsonpath=\'{state}{{"\\n"}}{reason}{{"\\n"}}\'   '
        "# the Machine Config Daemon's state (Done, Working, Degraded) and its reason",
    ]


def condition_status(obj: Mapping[str, Any], kind: str) -> Optional[str]:
    """``status`` of the object's condition of type ``kind`` ("True", "False", ...)."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return str(condition.get("status"))
    return None
