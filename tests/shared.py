"""Where the project's shared facts live: ../shared beside the checkout (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIRROR_AGENT_SHARED", PROJECT_ROOT.parent / "shared"))
CONFORMANCE_CASES = SHARED / "conformance" / "cases"
FIXTURES = SHARED / "fixtures"


def require(path: Path) -> Path:
    """Fail loudly (never skip) when the shared facts are missing."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the shared facts must sit beside the checkout "
            "(or set MIRROR_AGENT_SHARED)"
        )
    return path
