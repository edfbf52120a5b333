"""The liveness file of ``agent run``: written at every poll, and loud when it cannot be.

``agent health`` (the DaemonSet's liveness probe) fails when the file is old or missing,
and the kubelet then restarts the pod; the agent's log must say why, once, not at every
poll (an unwritable file stays unwritable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional


class HeartbeatFile:
    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self._failing = False

    def touch(self, text: str) -> Optional[str]:
        """Write ``text`` to the file; the reason when it fails for the first time since
        it last worked (None otherwise: written, no file configured, or already told)."""
        if self.path is None:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text)
        except OSError as exc:
            if self._failing:
                return None
            self._failing = True
            return (
                f"cannot write the heartbeat file {self.path}: {exc.strerror or exc}; the "
                "liveness probe (agent health) will fail and the pod will be restarted: "
                "mount a writable volume there (the DaemonSet's emptyDir at /run/mirror-agent)"
            )
        self._failing = False
        return None
