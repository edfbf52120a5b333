#!/usr/bin/env python3
"""Whole-process time to load a large registries.conf: `agent explain` next to `podman info`.

Generates a registries.conf with 2,000 [[registry]] entries of two mirrors each (the size
of `oc adm catalog mirror` output or a large ICSP set), then times, alternating runs:

  agent explain <one reference> --registries-conf FILE --host-root /
  podman info  (CONTAINERS_REGISTRIES_CONF=FILE; podman parses the file in Go)

Both read the same file and the machine's registries.conf.d drop-ins. podman gets a
throwaway --root/--runroot so that the machine's image store is not touched.
Target: the agent's median wall time is no more than podman's.

Usage: bench/registries_load.py [--entries N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomlkit

PROJECT = Path(__file__).resolve().parents[1]


def write_registries_conf(path: Path, entries: int) -> str:
    """Write the file with tomlkit; return a reference that the last entry matches."""
    document = tomlkit.document()
    document["unqualified-search-registries"] = ["registry.access.redhat.com", "docker.io"]
    tables = tomlkit.aot()
    for number in range(entries):
        entry = tomlkit.table()
        entry["prefix"] = ""
        entry["location"] = f"registry.example.com/team{number}/app{number}"
        mirrors = tomlkit.aot()
        for mirror in ("mirror-a.example.net", "mirror-b.example.net:5000/cache"):
            table = tomlkit.table()
            table["location"] = f"{mirror}/team{number}/app{number}"
            table["pull-from-mirror"] = "digest-only"
            mirrors.append(table)
        entry["mirror"] = mirrors
        tables.append(entry)
    document["registry"] = tables
    path.write_text(tomlkit.dumps(document))
    last = entries - 1
    return f"registry.example.com/team{last}/app{last}@sha256:" + "ab" * 32


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()

    agent = shutil.which("agent", path=str(PROJECT / ".venv" / "bin")) or shutil.which("agent")
    podman = shutil.which("podman")
    if not agent or not podman:
        raise SystemExit("needs the agent (scripts/setup.sh) and podman on PATH")

    with tempfile.TemporaryDirectory(prefix="mirror-agent-bench-") as scratch:
        work = Path(scratch)
        conf = work / "registries.conf"
        reference = write_registries_conf(conf, options.entries)
        size_kib = conf.stat().st_size / 1024

        agent_argv = [agent, "explain", reference, "--registries-conf", str(conf)]
        agent_argv += ["--host-root", "/", "-o", "json"]
        podman_argv = [podman, "--root", str(work / "root"), "--runroot", str(work / "run")]
        podman_argv += ["--storage-driver", "vfs", "info", "--format", "json"]
        env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(conf))

        # Prove both really parsed the file before timing them.
        _, agent_out = timed(agent_argv, env)
        sources = json.loads(agent_out)["results"][0]["pullSources"]
        assert len(sources) == 3, sources
        _, podman_out = timed(podman_argv, env)
        podman_registries = json.loads(podman_out)["registries"]
        assert reference.split("@")[0] in podman_registries, "podman did not load the file"

        agent_times: list[float] = []
        podman_times: list[float] = []
        for _ in range(options.runs):  # alternate so that machine noise hits both alike
            agent_times.append(timed(agent_argv, env)[0])
            podman_times.append(timed(podman_argv, env)[0])

    agent_median = statistics.median(agent_times)
    podman_median = statistics.median(podman_times)
    ratio = agent_median / podman_median
    print(f"registries.conf: {options.entries} entries x 2 mirrors ({size_kib:.0f} KiB)")
    print(f"runs: {options.runs} each, alternating; python {sys.version.split()[0]}")
    for label, median, times in (
        ("agent explain", agent_median, agent_times),
        ("podman info", podman_median, podman_times),
    ):
        print(f"{label:<14} median {median * 1000:7.1f} ms  (min {min(times) * 1000:.1f})")
    verdict = "met" if ratio <= 1 else "NOT met"
    print(f"ratio agent/podman: {ratio:.2f}  (target <= 1.00: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
