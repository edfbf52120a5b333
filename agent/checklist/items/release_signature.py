"""Pre-upgrade item 3: the release signature ConfigMap exists, where the cluster-version
operator looks for it."""

from __future__ import annotations

from agent.checklist.items.common import PULL_SECRET, outcome, unavailable
from agent.checklist.model import FAIL, PASS, Outcome, Unavailable
from agent.checklist.snapshot import SIGNATURES_LABEL, SIGNATURES_NAMESPACE, Snapshot
from agent.checklist.target import Target


def signature_commands(target: Target) -> list[str]:
    """The disconnected steps: the mirroring tool writes the signature ConfigMap on the host
    that reaches the internet; it is carried across and applied with ``oc apply -f``."""
    return [
        'oc apply -f "$OC_MIRROR_WORKSPACE"/working-dir/cluster-resources/'
        "signature-configmap.yaml   # mirrored with oc-mirror v2 (v1: "
        "oc-mirror-workspace/results-*/release-signatures/)",
        f"oc adm release mirror -a {PULL_SECRET} --from={target.source_reference} "
        '--to="$MIRROR_REPOSITORY" --release-image-signature-to-dir=./release-signatures   # on '
        "the host that mirrors releases (it reaches quay.io and the mirror): writes the "
        "signature ConfigMap; copy ./release-signatures to a host that reaches the cluster",
        "oc apply -f ./release-signatures/   # on a host that reaches the cluster",
    ]


def signature_item(snapshot: Snapshot, target: Target) -> Outcome:
    if isinstance(snapshot.signatures, Unavailable):
        return unavailable([snapshot.signatures])
    # library-go's configmap store names a signature `<algorithm>-<hex>-<n>`.
    algorithm, hexdigest = target.digest.split(":", 1)
    prefix = f"{algorithm}-{hexdigest}"
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
    return outcome(
        FAIL,
        f"no ConfigMap labelled {SIGNATURES_LABEL} in "
        f"{SIGNATURES_NAMESPACE} has a key for {target.digest}",
        evidence=[
            f"{len(snapshot.signatures)} signature ConfigMap(s) read; none has a binaryData key "
            f"{prefix}-<n>",
            *under_data,
            *_not_sha256(algorithm),
        ],
        remediation=signature_commands(target),
        details={"signatures": []},
    )


def _not_sha256(algorithm: str) -> list[str]:
    if algorithm == "sha256":
        return []
    return [
        f"releases are signed by their sha256 digest: a release named by its {algorithm} digest "
        f"has no signature key of the sha256-<hex> form; give --to-image the release's sha256 "
        "digest (oc adm release info)"
    ]
