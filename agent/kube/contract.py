"""The ConfigMap contract, in one place: what the writers (``agent run`` publishing a node's
report, ``agent checklist`` writing its release check) and every reader (``agent collect``,
``agent checklist``, the DaemonSet's mounted checks file) must agree on — names, labels,
annotations, data keys, field managers — and the Machine Config Operator's node annotations
read beside them. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re

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
