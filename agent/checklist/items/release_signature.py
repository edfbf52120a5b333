"""Pre-upgrade item 3: the release signature ConfigMap exists, where the cluster-version
operator looks for it."""

from __future__ import annotations

from agent.checklist.items.common import outcome, unavailable
from agent.checklist.model import FAIL, PASS, Outcome, Unavailable
from agent.checklist.snapshot import SIGNATURES_LABEL, SIGNATURES_NAMESPACE, Snapshot
from agent.checklist.target import Target


def signature_item(snapshot: Snapshot, target: Target) -> Outcome:
    if isinstance(snapshot.signatures, Unavailable):
        return unavailable([snapshot.signatures])
    hexdigest = target.digest.split(":", 1)[1]
    prefix = f"sha256-{hexdigest}"
    found, under_data = [], []
    for configmap in snapshot.signatures:
        name = (configmap.get("metadata") or {}).get("name", "?")
        # The CVO reads binaryData only (library-go verify/store/configmap); a key under
        # data is never seen, and the update is refused as unverified.
        found += [
            f"{SIGNATURES_NAMESPACE}/{name}: {key}"
            for key in configmap.get("binaryData") or {}
            if key.startswith(prefix)
        ]
        under_data += [
            f"{SIGNATURES_NAMESPACE}/{name}: {key} is under data, which the cluster ignores "
            "(signatures must be binaryData)"
            for key in configmap.get("data") or {}
            if key.startswith(prefix)
        ]
    if found:
        return outcome(
            PASS,
            f"a signature for {target.digest} is in {SIGNATURES_NAMESPACE}",
            evidence=found,
            details={"signatures": found},
        )
    url = (
        "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release/"
        f"sha256={hexdigest}/signature-1"
    )
    return outcome(
        FAIL,
        f"no ConfigMap labelled {SIGNATURES_LABEL} in "
        f"{SIGNATURES_NAMESPACE} has a key for {target.digest}",
        evidence=[
            f"{len(snapshot.signatures)} signature ConfigMap(s) read; none has a binaryData key "
            f"{prefix}-<n>",
            *under_data,
        ],
        remediation=[
            "oc apply -f <oc-mirror workspace>/working-dir/cluster-resources/"
            "signature-configmap.yaml   # oc-mirror v2 (v1: results-*/release-signatures/)",
            f"curl -sSfo signature-1 {url} && oc create configmap {prefix} -n "
            f"{SIGNATURES_NAMESPACE} --from-file={prefix}-1=signature-1 && oc label configmap "
            f"{prefix} -n {SIGNATURES_NAMESPACE} {SIGNATURES_LABEL}=",
        ],
        details={"signatures": []},
    )
