#!/usr/bin/env python3
"""Parse time of large podman debug logs (the fixtures repeated up to ~50 MB) and of
pathological pasted lines (parse_pull_log, then parse_pulls on the same text).

Usage: bench/log_parse.py [--megabytes N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from agent.pull.log.podman import parse_pull_log  # noqa: E402
from agent.pull.log.pulls import parse_pulls  # noqa: E402

FIXTURES = PROJECT / "tests" / "data" / "fixtures" / "podman-4.3"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=50)
    size = parser.parse_args().megabytes * 1_000_000
    one_round = (FIXTURES / "all-fail-source-unreachable.log").read_text()
    noise = (FIXTURES / "mirror-401.log").read_text()
    text = noise * (size // 2 // len(noise)) + one_round * (size // 2 // len(one_round))
    for label, sample in (
        ("realistic log", text),
        ("one huge line", "Trying to access " * (size // 17)),
        # a long hyphenated word in an error: the host pattern was quadratic on it
        ("hyphen error", 'Accessing "a.example/b" failed: ' + "a-" * 60_000 + "\n"),
        # digits after a kubelet event: `\d+ errors occurred` was quadratic on them
        ("digit event", 'Failed to pull image "a/b": ' + "1" * 120_000 + "\n"),
    ):
        start = time.perf_counter()
        result = parse_pull_log(sample, exit_code=125)
        parse_pulls(sample)  # what agent analyze reads a paste with
        elapsed = time.perf_counter() - start
        print(
            f"{label:<14} {len(sample) / 1e6:6.1f} MB  {elapsed:6.2f} s  "
            f"({len(sample) / 1e6 / elapsed:.0f} MB/s, {len(result.attempts)} attempts)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
