"""Which manifest a pull received: its digest, and a digest that did not match (pure)."""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["is_digest_mismatch", "reference_digest", "stored_manifest_digest"]

# containers/image refuses a manifest whose digest is not the reference's only after the
# mirror loop has chosen the source (UnparsedImage.Manifest): the attempt looks served.
_MISMATCH = re.compile(r"(?i)manifest does not match provided manifest digest")
# containers/image's storage destination, on commit: the image's metadata, whose
# "signatures-sizes" is keyed by the digest of the manifest it stored.
_SAVED_METADATA = re.compile(
    r"saved image metadata.*?signatures-sizes[^{]*\{[^}]*?(sha256:[0-9a-f]{64})"
)
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def is_digest_mismatch(error: Optional[str]) -> bool:
    """Whether a tool's error says the manifest served is not the digest asked for."""
    return bool(error) and _MISMATCH.search(error or "") is not None


def stored_manifest_digest(log: str) -> Optional[str]:
    """The digest of the manifest a ``podman pull`` stored (its debug log), when it says."""
    found = None
    for match in _SAVED_METADATA.finditer(log):
        found = match.group(1)
    return found


def reference_digest(reference: str) -> Optional[str]:
    """``sha256:…`` of a reference by digest, else None."""
    match = _DIGEST.search(reference)
    return match.group(1) if match else None
