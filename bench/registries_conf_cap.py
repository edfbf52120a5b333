#!/usr/bin/env python3
"""Peak memory of loading a registries.conf at the size cap, and the refusal above it.

The agent reads no registries.conf (or drop-in) larger than ``REGISTRIES_CONF_LIMIT``
(agent/safe_read.py). For files just under the cap, in several shapes chosen to cost the
most memory per byte, this runs ``agent config -o json --host-root ROOT`` in a throwaway
host root (never the machine's /etc/containers) and prints the child's peak RSS
(``ru_maxrss`` from ``wait4``). Then one byte over the cap must be refused at once with
exit 2 and a message naming the file and the limit.

Shapes:
  entries      [[registry]] entries with two mirrors each (what MCO writes for mirror sets)
  tiny-entries the smallest [[registry]] tables possible (most objects per byte)
  flat-array   an unknown key holding one huge array of small integers
  long-strings a few keys whose values are megabyte strings

Target: every shape stays under 300 MiB peak.

Usage: bench/registries_conf_cap.py [--shape NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from agent.safe_read import REGISTRIES_CONF_LIMIT  # noqa: E402

AGENT = Path(sys.executable).with_name("agent")
TARGET_MIB = 300


def _fill(head: str, piece: Callable[[int], str], limit: int) -> str:
    parts, size, number = [head], len(head), 0
    while True:
        text = piece(number)
        if size + len(text) > limit:
            return "".join(parts)
        parts.append(text)
        size += len(text)
        number += 1


def entries(limit: int) -> str:
    return _fill(
        'unqualified-search-registries = ["registry.access.redhat.com"]\n',
        lambda n: (
            f'\n[[registry]]\nprefix = ""\nlocation = "registry.example.com/team{n}/app{n}"\n'
            f'[[registry.mirror]]\nlocation = "mirror-a.example.net/team{n}/app{n}"\n'
            'pull-from-mirror = "digest-only"\n'
            f'[[registry.mirror]]\nlocation = "mirror-b.example.net:5000/c/team{n}/app{n}"\n'
            'pull-from-mirror = "digest-only"\n'
        ),
        limit,
    )


def tiny_entries(limit: int) -> str:
    return _fill("", lambda n: f'[[registry]]\nlocation="r{n}.io"\n', limit)


def flat_array(limit: int) -> str:
    body = _fill("x = [", lambda n: "1,", limit - 2)
    return body + "]\n"


def long_strings(limit: int) -> str:
    chunk = (limit - 200) // 4
    return "".join(f'k{n} = "{"a" * chunk}"\n' for n in range(4))


SHAPES: dict[str, Callable[[int], str]] = {
    "entries": entries,
    "tiny-entries": tiny_entries,
    "flat-array": flat_array,
    "long-strings": long_strings,
}


def run_agent(root: Path) -> tuple[int, float, float, str]:
    """(exit code, peak RSS MiB, seconds, stderr) of ``agent config`` on ``root``."""
    argv = [str(AGENT), "config", "--host-root", str(root), "-o", "json"]
    started = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    err = child.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    return child.returncode, usage.ru_maxrss / 1024, elapsed, err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES))
    args = parser.parse_args()
    limit = REGISTRIES_CONF_LIMIT
    print(f"size cap: {limit} bytes ({limit // 1024 // 1024} MiB); target < {TARGET_MIB} MiB peak")
    failed = False
    with tempfile.TemporaryDirectory(prefix="mirror-agent-cap-") as folder:
        root = Path(folder) / "host"
        (root / "etc/containers/registries.conf.d").mkdir(parents=True)
        conf = root / "etc/containers/registries.conf"
        for name in args.shape or SHAPES:
            text = SHAPES[name](limit)
            conf.write_text(text)
            code, peak, seconds, err = run_agent(root)
            within = peak < TARGET_MIB
            failed |= not within
            print(
                f"{name:13} {len(text.encode()):>9} bytes  exit {code}  "
                f"peak {peak:6.1f} MiB  {seconds:5.2f} s  {'ok' if within else 'OVER TARGET'}"
                + (f"  ({err.strip().splitlines()[0][:80]})" if code else "")
            )
        conf.write_text(entries(limit) + "#" * (limit + 1 - len(entries(limit).encode())) + "\n")
        code, peak, seconds, err = run_agent(root)
        refused = code == 2 and "larger than" in err and str(conf) in err
        failed |= not refused
        print(
            f"{'over the cap':13} {conf.stat().st_size:>9} bytes  exit {code}  "
            f"peak {peak:6.1f} MiB  {seconds:5.2f} s  {'refused' if refused else 'NOT REFUSED'}"
        )
        print(f"  {err.strip().splitlines()[0] if err.strip() else '(no message)'}")
        # the cap bounds all the files of one load: drop-ins each under it add up
        conf.write_text(tiny_entries(limit // 2))
        for number in range(2):
            dropin = root / f"etc/containers/registries.conf.d/{50 + number}-split.conf"
            dropin.write_text(tiny_entries(limit // 2))
        code, peak, seconds, err = run_agent(root)
        refused = code == 2 and "together" in err
        failed |= not refused
        print(
            f"{'split 3 files':13} {3 * (limit // 2):>9} bytes  exit {code}  "
            f"peak {peak:6.1f} MiB  {seconds:5.2f} s  {'refused' if refused else 'NOT REFUSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
