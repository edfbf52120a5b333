"""The OpenShift version whose Machine Config Operator renders the nodes' registries.conf
(pure): from ``--ocp-version``, or the ClusterVersion's history."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Optional

LATEST = (4, 99)  # "current MCO releases" when the version is unknown


def parse_ocp_version(text: str) -> tuple[int, int]:
    """``4.14.8``, ``4.15``, ``4.16.0-rc.1`` → (4, 14); ValueError otherwise."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$", text.strip())
    if not match:
        raise ValueError(f"not an OpenShift version: {text!r} (use e.g. 4.14 or 4.14.8)")
    return int(match.group(1)), int(match.group(2))


def version_text(version: tuple[int, int]) -> str:
    return "latest" if version == LATEST else f"{version[0]}.{version[1]}"


# Where the version came from: the option, the ClusterVersion's history, or nowhere;
# "default": agent plan without a cluster, which renders with current releases' rules.
VersionSource = Literal["--ocp-version", "ClusterVersion", "unknown", "default"]


@dataclass(frozen=True)
class Version:
    version: tuple[int, int]
    text: str  # e.g. 4.14.8
    source: VersionSource

    @property
    def z_stream(self) -> Optional[int]:
        """The patch release of ``text`` (4.13.<z>); None when not given or unknown."""
        match = re.match(r"^v?\d+\.\d+\.(\d+)", self.text.strip())
        return int(match.group(1)) if match else None

    def to_json(self) -> dict[str, Any]:
        return {"ocpVersion": self.text, "ocpVersionFrom": self.source}


def cluster_version_of(cluster_version: object, override: Optional[str], *, post: bool) -> Version:
    """The version whose MCO renders the nodes' registries.conf now.

    Before an update that is the last completed release in the history; after it, the
    desired one. ``override`` (``--ocp-version``) wins; ValueError if it is not a version.
    """
    if override:
        return Version(parse_ocp_version(override), override, "--ocp-version")
    if isinstance(cluster_version, dict):
        status = cluster_version.get("status") or {}
        history = [h for h in status.get("history") or [] if isinstance(h, dict)]
        candidates = [str((status.get("desired") or {}).get("version") or "")]
        completed = [str(h.get("version") or "") for h in history if h.get("state") == "Completed"]
        if not post:
            candidates = completed[:1] + candidates
        for text in candidates:
            try:
                return Version(parse_ocp_version(text), text, "ClusterVersion")
            except ValueError:
                continue
    return Version(LATEST, "unknown", "unknown")
