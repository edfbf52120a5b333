#!/usr/bin/env python3
"""What `agent check` costs on top of the tool it runs, in milliseconds.

For the same digest served by a local registry through a mirror rule, times whole
processes, alternating runs, inside one chroot-able host root (tests/support/hostroot.py):

  agent check --host-root H --image REF -o json        (scratch storage, removed after)
  chroot H podman --root <fresh> --runroot <fresh> pull --log-level=debug REF
  agent check --method manifest ...  /  chroot H skopeo --debug inspect --raw docker://REF

for a tiny image and a ~50 MB one. The overhead is the agent's time minus the bare tool's,
same image, same round; the figures are medians over the rounds. Targets: tiny pull
<= 120 ms; 50 MB pull <= the tiny one's + 40 ms (flat with the image's size); manifest
<= 120 ms. Needs root (mount namespaces). Also prints what fixed steps cost on their own:
a Python process that only checks free disk space with psutil, one that only imports
typer (the CLI), and `agent explain` (working out the sources).

Usage: bench/check_overhead.py [--runs N] [--driver overlay|vfs]
MIRROR_AGENT_BIN=/path/to/agent times another installation (e.g. a non-editable one: the
development venv's editable install adds ~10-15 ms of import-path set-up to every start).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.support.hostroot import build_host_root, host_root_argv  # noqa: E402
from tests.support.lab import Lab  # noqa: E402

AGENT = os.environ.get("MIRROR_AGENT_BIN", str(PROJECT / ".venv" / "bin" / "agent"))
SOURCE = "registry.example.com/team"


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0,):
        raise SystemExit(f"failed ({done.returncode}): {argv}\n{done.stderr[-2000:]}")
    return elapsed


def _interpreter(script: str) -> str:
    """The Python that runs the agent's console script (its #! line)."""
    with open(script, encoding="utf-8") as handle:
        first = handle.readline()
    return first[2:].strip().split()[0] if first.startswith("#!") else sys.executable


def inner(spec: dict[str, object]) -> None:
    """Runs inside the host root's mount namespace: the timing loops."""
    root = str(spec["root"])
    driver = str(spec["driver"])
    runs = int(str(spec["runs"]))
    results: dict[str, list[float]] = {}

    def agent(ref: str, method: str) -> float:
        argv = [AGENT, "check", "--host-root", root, "--image", ref, "-o", "json"]
        argv += ["--method", method, "--storage-driver", driver]
        return timed(argv)

    def bare(ref: str, number: int) -> float:
        store = f"/var/tmp/bench-{number}"
        argv = ["chroot", root, "podman", "--root", f"{store}/root", "--runroot", f"{store}/run"]
        argv += ["--storage-driver", driver, "pull", "--log-level=debug", ref]
        try:
            return timed(argv)
        finally:
            subprocess.run(["chroot", root, "rm", "-rf", store], check=True)

    skopeo = ["chroot", root, "skopeo", "--debug", "inspect", "--raw"]
    for label, ref_key in (("tiny", "tiny"), ("50MB", "medium")):
        ref = str(spec[ref_key])
        agent(ref, "pull")  # warm-up: page cache, registry
        for number in range(runs):
            results.setdefault(f"{label}:agent", []).append(agent(ref, "pull"))
            results.setdefault(f"{label}:podman", []).append(bare(ref, number))
    ref = str(spec["medium"])
    for _ in range(runs):
        results.setdefault("manifest:agent", []).append(agent(ref, "manifest"))
        results.setdefault("manifest:skopeo", []).append(timed([*skopeo, f"docker://{ref}"]))
    # Fixed steps, each as a process of its own: checking free space with psutil (done
    # before every pull), importing typer (the CLI), and working out the expected sources
    # (agent explain: Python, CLI, registries.conf, resolution).
    python = _interpreter(AGENT)
    fixed = {
        "pre:disk": [python, "-c", f"import psutil; psutil.disk_usage({root + '/var/tmp'!r})"],
        "pre:typer": [python, "-c", "import typer"],
        "pre:python": [python, "-c", "pass"],
        "pre:explain": [AGENT, "explain", "--host-root", root, str(spec["tiny"]), "-o", "json"],
    }
    for _ in range(runs):
        for key, argv in fixed.items():
            results.setdefault(key, []).append(timed(argv))
    print(json.dumps(results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--driver", default="overlay", choices=["overlay", "vfs"])
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inner:
        inner(json.loads(options.inner))
        return 0

    with tempfile.TemporaryDirectory(prefix="mab-") as scratch, Lab(Path(scratch)) as lab:
        registry = lab.start_registry("mirror")
        refs = {}
        for key, size in (("tiny", 1024), ("medium", 50 * 10**6)):
            image = lab.build_image(f"bench/{key}:1", size_bytes=size)
            digest = lab.push(image, registry, f"mirror/team/{key}")
            refs[key] = f"{SOURCE}/{key}@{digest}"
        conf = (
            f'[[registry]]\nlocation = "{SOURCE}"\n\n'
            f'[[registry.mirror]]\nlocation = "{registry.host}/mirror/team"\ninsecure = true\n'
        )
        root = build_host_root(lab, conf, storage_driver=options.driver)
        spec = {"root": str(root), "driver": options.driver, "runs": options.runs, **refs}
        argv = [sys.executable, str(Path(__file__).resolve()), "--inner", json.dumps(spec)]
        done = subprocess.run(host_root_argv(root, argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"benchmark failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        results = json.loads(done.stdout.strip().splitlines()[-1])

    def median(key: str) -> float:
        return statistics.median(results[key])

    def overhead(agent_key: str, tool_key: str) -> float:
        """Median of (agent - bare tool) over the rounds, in ms."""
        pairs = zip(results[agent_key], results[tool_key])
        return statistics.median(agent - tool for agent, tool in pairs) * 1000

    print(f"storage driver {options.driver}; medians of {options.runs} alternating rounds")
    tiny = overhead("tiny:agent", "tiny:podman")
    rows = (
        ("tiny pull", "tiny:agent", "tiny:podman", "podman pull", 120.0),
        ("50MB pull", "50MB:agent", "50MB:podman", "podman pull", tiny + 40.0),
        ("manifest", "manifest:agent", "manifest:skopeo", "skopeo inspect", 120.0),
    )
    for label, agent_key, tool_key, tool, target in rows:
        extra = overhead(agent_key, tool_key)
        verdict = "met" if extra <= target else "NOT met"
        print(
            f"{label:<10} agent {median(agent_key) * 1000:6.0f} ms   {tool} "
            f"{median(tool_key) * 1000:6.0f} ms   overhead {extra:5.0f} ms "
            f"(target <= {target:.0f} ms: {verdict})"
        )
    print(
        "fixed steps alone: Python start-up "
        f"{median('pre:python') * 1000:.0f} ms, + psutil disk check {median('pre:disk') * 1000:.0f}"
        f" ms, + importing typer {median('pre:typer') * 1000:.0f} ms; agent explain "
        f"{median('pre:explain') * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
