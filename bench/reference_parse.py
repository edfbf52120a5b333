#!/usr/bin/env python3
"""How long the reference grammar takes to refuse pathological input (no regex blow-up).

Each input is refused by parse_normalized and is_short_name; prints the median of 5 runs
per input (target: well under 1 s each). Usage: bench/reference_parse.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.reference import ReferenceError, is_short_name, parse_normalized

INPUTS = {
    "3,000 path components and a bad character": "a/" * 3000 + "!",
    "6,000-character separator chain": "example.com/" + "a_" * 3000 + "A",
    "2,000 dotted host labels": "a.b" * 2000 + "/x!",
    "100,000-character name and an empty digest": "a" * 100_000 + "@",
    "100,000-digit digest": "x@sha256:" + "f" * 100_000,
}


def refuse(text: str) -> float:
    start = time.perf_counter()
    for parse in (parse_normalized, is_short_name):
        try:
            parse(text)
        except ReferenceError:
            pass
        else:
            raise SystemExit(f"accepted: {text[:40]}...")
    return time.perf_counter() - start


def main() -> int:
    for label, text in INPUTS.items():
        median = statistics.median(refuse(text) for _ in range(5))
        print(
            f"{label:<45} {median * 1000:8.2f} ms  (target < 1000 ms: "
            f"{'met' if median < 1 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
