"""``agent health``: the liveness probe of ``agent run`` (kept light: it runs every few seconds)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional


def heartbeat_age(path: Path, now: Optional[float] = None) -> Optional[float]:
    """Seconds since ``agent run`` last touched its heartbeat file (None: no such file)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return (now if now is not None else time.time()) - mtime


def unhealthy(path: Path, max_age: float) -> Optional[str]:
    """Why the agent is not live (its heartbeat is missing or too old), or None."""
    age = heartbeat_age(path)
    if age is not None and age <= max_age:
        return None
    state = "missing" if age is None else f"{age:.0f}s old"
    return f"unhealthy: heartbeat {path} is {state}"
