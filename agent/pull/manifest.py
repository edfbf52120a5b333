"""An image's size from its manifest (pure): what a pull will download, before pulling.

OCI and Docker schema 2 manifests list every layer with its (compressed) size; an image
index or manifest list names one manifest per platform, and the node's own is the one a
pull takes. Docker schema 1 manifests carry no sizes: unknown.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from typing import Any, Optional, Union

__all__ = ["ImageSize", "PlatformManifest", "manifest_size", "node_platform"]

#: ``uname -m`` → the architecture names of image indexes.
_ARCHITECTURES = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


@dataclass(frozen=True)
class ImageSize:
    """The bytes a pull downloads: every layer plus the config."""

    download: int
    layers: int


@dataclass(frozen=True)
class PlatformManifest:
    """An index: the digest of the manifest of the node's platform, to fetch next."""

    digest: str


def node_platform(machine: Optional[str] = None) -> str:
    """The architecture of this machine (the agent runs on the node) as indexes name it."""
    name = machine or platform.machine()
    return _ARCHITECTURES.get(name, name)


def _size_of(entry: Any) -> Optional[int]:
    if not isinstance(entry, dict):
        return None
    size = entry.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def manifest_size(
    text: str, architecture: str, os_name: str = "linux"
) -> Union[ImageSize, PlatformManifest, None]:
    """The image's size, the platform manifest to fetch (an index), or None when the
    manifest tells nothing usable (not JSON, schema 1, no entry for this platform)."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    entries = document.get("manifests")
    if isinstance(entries, list):
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            wanted = entry.get("platform") or {}
            if not isinstance(wanted, dict):
                continue
            digest = entry.get("digest")
            if (
                wanted.get("os") == os_name
                and wanted.get("architecture") == architecture
                and isinstance(digest, str)
            ):
                return PlatformManifest(digest)
        return None
    layers = document.get("layers")
    if not isinstance(layers, list):
        return None
    sizes = [_size_of(layer) for layer in layers]
    if any(size is None for size in sizes):
        return None
    config = _size_of(document.get("config")) or 0
    total = sum(size for size in sizes if size is not None)
    return ImageSize(download=total + config, layers=len(sizes))
