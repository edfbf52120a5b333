"""Where the test data lives: tests/data in this repository (recorded logs, conformance cases)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT / "tests" / "data"
CONFORMANCE_CASES = DATA / "conformance"
FIXTURES = DATA / "fixtures"


def require(path: Path) -> Path:
    """Fail loudly (never skip) when test data is missing."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the repository's test data")
    return path
