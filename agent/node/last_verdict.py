"""The verdict of the last report ``agent run`` published, kept beside its heartbeat (the
DaemonSet's emptyDir at /run/mirror-agent): a restarted container then does not announce
again, as a new Node event, a failure the node already had. It survives container
restarts, not a new pod (a rollout, a reboot): that pod's first report that does not
pass is announced once. Kept on the node, not read back from the report ConfigMap: the
agent's service account may not read ConfigMaps (docs/security.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from agent.report import VERDICTS
from agent.safe_read import SMALL_FILE_LIMIT, UnsafeFile, read_text

FILE_NAME = "last-verdict"


class LastVerdictFile:
    def __init__(self, path: Optional[Path]) -> None:
        self.path = path

    @classmethod
    def beside(cls, heartbeat_file: Optional[Path]) -> LastVerdictFile:
        """The file next to the heartbeat; none without a heartbeat file (a workstation)."""
        return cls(heartbeat_file.parent / FILE_NAME if heartbeat_file is not None else None)

    def read(self) -> Optional[str]:
        """The verdict last written; None when there is none or it is not a verdict."""
        if self.path is None:
            return None
        try:
            text = read_text(self.path, limit=SMALL_FILE_LIMIT, missing_ok=True)
        except UnsafeFile:
            return None  # unreadable: as if unknown (the first report then tells)
        verdict = (text or "").strip()
        return verdict if verdict in VERDICTS else None

    def write(self, verdict: str) -> None:
        """Remember ``verdict`` (atomically); a file that cannot be written is forgotten
        state, never a stop: at worst one event is repeated after a restart."""
        if self.path is None:
            return
        partial = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(verdict + "\n")
            os.replace(partial, self.path)
        except OSError:
            return
