"""The ConfigMap contract, in one place: what the writers (``agent run`` publishing a node's
report, ``agent checklist`` writing its release check) and every reader (``agent collect``,
``agent checklist``, the DaemonSet's mounted checks file) must agree on — names, labels,
annotations, data keys, field managers — and the Machine Config Operator's node annotations
read beside them. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Optional

from agent.documents import DocumentError, parse_json
from agent.errors import UsageError, clipped, quoted

# --- a node's report ConfigMap: written by `agent run`, read by collect and the checklist --

REPORT_NAME_PREFIX = "mirror-agent-report-"
REPORT_LABELS = {"app.kubernetes.io/name": "mirror-agent", "app.kubernetes.io/component": "report"}
#: The label selector the readers list report ConfigMaps by (``REPORT_LABELS``).
REPORT_SELECTOR = ",".join(f"{key}={value}" for key, value in REPORT_LABELS.items())
VERDICT_LABEL = "mirror-agent.io/verdict"
NODE_ANNOTATION = "mirror-agent.io/node"  # the node's name, which the ConfigMap name may hash
REPORT_KEY = "report.json"
REPORT_FIELD_MANAGER = "mirror-agent"

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_MAX = 253

# --- where the reports live: a namespace of their own ---------------------------------------

#: The reports live in ``<mirror-agent's namespace>-reports``, not beside the checks
#: ConfigMap: the agent's service account may create and patch ConfigMaps there and has no
#: right at all on ConfigMaps of its own namespace (daemonset/rbac.yaml), so a node's token
#: cannot rewrite what every node checks.
REPORTS_NAMESPACE_SUFFIX = "-reports"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_MAX = 63  # a namespace name is a DNS-1123 label


def reports_namespace(namespace: str, given: Optional[str] = None) -> str:
    """The namespace of the node reports: ``given`` (``--reports-namespace``), else
    ``namespace`` + ``-reports``. Either must be a DNS-1123 label (a namespace name):
    :class:`UsageError` (exit 2) naming the value otherwise."""
    if given is not None:
        if not _is_label(given):
            raise UsageError(f"--reports-namespace {quoted(given)}: {_not_a_label(given)}")
        return given
    derived = namespace + REPORTS_NAMESPACE_SUFFIX
    if not _is_label(derived):
        raise UsageError(
            f"the reports namespace {quoted(derived)} (mirror-agent's namespace "
            f"{quoted(namespace)} + {REPORTS_NAMESPACE_SUFFIX!r}): {_not_a_label(derived)}",
            hint="give the reports' namespace with --reports-namespace",
        )
    return derived


def no_report_found(reports: str, namespace: str) -> str:
    """What the readers say when the reports namespace ``reports`` holds no report at all
    while nodes are expected: agents of the versions before the reports namespace still
    publish beside the checks, in mirror-agent's namespace ``namespace``."""
    return (
        f"no node report in namespace {reports}: agents older than the reports namespace "
        f"publish in {namespace}; see docs/deploying.md (Upgrade)"
    )


def _not_a_label(name: str) -> str:
    length = f"{len(name)} characters; " if len(name) > _LABEL_MAX else ""
    return (
        f"not a namespace name ({length}a namespace name is a DNS-1123 label: at most "
        f"{_LABEL_MAX} characters, lowercase letters, digits and '-', starting and ending "
        "with a letter or digit)"
    )


def _is_label(name: str) -> bool:
    return len(name) <= _LABEL_MAX and _LABEL.fullmatch(name) is not None


def configmap_name(node: str) -> str:
    """``mirror-agent-report-<node>``, hashed when the node name does not fit a DNS-1123 name."""
    candidate = REPORT_NAME_PREFIX + node
    if len(candidate) <= _NAME_MAX and _DNS1123.match(candidate):
        return candidate
    digest = hashlib.sha256(node.encode()).hexdigest()[:12]
    readable = re.sub(r"[^a-z0-9-]+", "-", node.lower()).strip("-")[:60].strip("-")
    return f"{REPORT_NAME_PREFIX}{readable}-{digest}" if readable else REPORT_NAME_PREFIX + digest


# --- the checks ConfigMap: the DaemonSet mounts it; each key is a checks file ---------------

CHECKS_CONFIGMAP = "mirror-agent-checks"
IMAGES_KEY = "images.txt"  # the administrator's own key
CHECKLIST_KEY = "checklist.txt"  # the release checks `agent checklist pre-upgrade` adds
#: The field manager that owns ``CHECKLIST_KEY``: cleanup removes only what it still owns.
CHECKLIST_FIELD_MANAGER = "mirror-agent-checklist"
#: The mirror probes ``agent plan --probe-on-nodes`` adds, and removes when it is done.
PLAN_KEY = "plan.txt"
PLAN_FIELD_MANAGER = "mirror-agent-plan"

# --- the Machine Config Operator's annotations on a Node ------------------------------------

CURRENT_CONFIG = "machineconfiguration.openshift.io/currentConfig"
DESIRED_CONFIG = "machineconfiguration.openshift.io/desiredConfig"
MCD_STATE = "machineconfiguration.openshift.io/state"
MCD_REASON = "machineconfiguration.openshift.io/reason"  # why the MCD is Degraded

# --- "check again now": a key of the checks ConfigMap, written by `agent recheck` -----------

#: ``{"all": {"id", "requestedAt"}, "nodes": {"<node>": {"id", "requestedAt"}}}``: the
#: latest request for every node and per node. ``agent run`` checks when the ids that
#: concern its node change, and names them in its report (``recheck``), so that
#: ``agent collect`` can tell which nodes have checked since a request without comparing
#: clocks.
RECHECK_KEY = "recheck.json"
RECHECK_FIELD_MANAGER = "mirror-agent-recheck"
RECHECK_ALL = "all"


#: What ``agent recheck`` writes (``secrets.token_hex(6)``, an RFC 3339 time); anything else
#: in ``recheck.json`` is not a request: it would be copied into every node's report.
_RECHECK_ID = re.compile(r"^[0-9a-f]{1,32}$")
_REQUESTED_AT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{2,20}(Z|[+-][0-9]{2}:[0-9]{2})?$")


def parse_recheck(text: str, source: str = RECHECK_KEY) -> tuple[dict[str, dict[str, str]], str]:
    """The requests in a ``recheck.json``, by node (``RECHECK_ALL``: every node), and what
    was wrong with it ("" when nothing): a text that is not a JSON object holds no request,
    an entry whose id or time is not what ``agent recheck`` writes is left out."""
    try:
        document = parse_json(text, source) if text.strip() else {}
    except DocumentError as error:
        return {}, str(error)
    if not isinstance(document, dict):
        return {}, f"{source}: not a JSON object"
    found: dict[str, dict[str, str]] = {}
    refused: list[str] = []
    entries = [(RECHECK_ALL, document.get(RECHECK_ALL))] if RECHECK_ALL in document else []
    nodes = document.get("nodes")
    if isinstance(nodes, dict):
        entries += list(nodes.items())
    for target, request in entries:
        request_id = request.get("id") if isinstance(request, dict) else None
        requested_at = request.get("requestedAt", "") if isinstance(request, dict) else None
        if (
            isinstance(request_id, str)
            and _RECHECK_ID.match(request_id)
            and isinstance(requested_at, str)
            and (not requested_at or _REQUESTED_AT.match(requested_at))
        ):
            found[str(target)] = {"id": request_id, "requestedAt": requested_at}
        else:
            refused.append(str(target))
    if not refused:
        return found, ""
    shown = ", ".join(clipped(target, 80) for target in refused[:3])
    shown += ", ..." if len(refused) > 3 else ""
    return found, (
        f"{source}: {len(refused)} request(s) left out ({shown}): a request is "
        '{"id": up to 32 hexadecimal digits, "requestedAt": an RFC 3339 time}'
    )


def recheck_requests(text: str) -> dict[str, dict[str, str]]:
    """The valid requests in a ``recheck.json`` (:func:`parse_recheck`); an unreadable text
    holds none."""
    return parse_recheck(text)[0]


def recheck_text(
    requests: dict[str, dict[str, str]], target: str, request_id: str, requested_at: str
) -> str:
    """``recheck.json`` with a new request for ``target`` (a node, or ``RECHECK_ALL``)."""
    updated = {**requests, target: {"id": request_id, "requestedAt": requested_at}}
    document: dict[str, object] = {}
    if RECHECK_ALL in updated:
        document[RECHECK_ALL] = updated[RECHECK_ALL]
    document["nodes"] = {k: v for k, v in sorted(updated.items()) if k != RECHECK_ALL}
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def recheck_seen(requests: dict[str, dict[str, str]], node: str) -> dict[str, str]:
    """The request ids that concern ``node`` (``all``, ``node``): what its report names."""
    seen = {}
    for key, target in (("all", RECHECK_ALL), ("node", node)):
        if target in requests:
            seen[key] = requests[target]["id"]
    return seen
