#!/usr/bin/env python3
"""Checking many images on a node: `agent check --images-file` against the manual procedure.

24 images (16 tiny, 8 of ~10 MB), each its own digest, served by a local registry (the
lab) through a mirror rule, inside one chroot-able host root (tests/support/hostroot.py).
Alternating rounds, whole processes timed:

  manual pull       24 serial `chroot H podman --root <fresh> pull --log-level=debug REF`
                    (one fresh store per round; its removal is not timed)
  agent pull        `agent check --host-root H --images-file F -o json` (default --parallel,
                    and --parallel 1, 2, 3, 4, 6 to show why the default is what it is)
  manual manifest   24 serial `chroot H skopeo --debug inspect --raw docker://REF`
  agent manifest    `agent check --method manifest --images-file F` (default, and
                    --parallel 1, 2, 4, 8, 16)

Targets: agent / manual <= 0.7 for pulls and for manifests. Prints medians side by side,
the ratios, and the CPU time each run used (concurrency only helps while cores are free).
Needs root (mount namespaces).

Usage: bench/check_many.py [--rounds N] [--driver overlay|vfs]
MIRROR_AGENT_BIN=/path/to/agent times another installation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
TINY, MEDIUM = 16, 8
PULL_PARALLEL = (None, 1, 2, 3, 4, 6)
MANIFEST_PARALLEL = (None, 1, 2, 4, 8, 16)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall time and CPU time (of the command and every process it waited for)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"failed ({done.returncode}): {argv}\n{done.stderr[-2000:]}")
    return elapsed, _children_cpu() - cpu


def _total(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(wall for wall, _ in runs), sum(cpu for _, cpu in runs)


def inner(spec: dict[str, object]) -> None:
    """Runs inside the host root's mount namespace: the timing rounds."""
    root = str(spec["root"])
    driver = str(spec["driver"])
    rounds = int(str(spec["rounds"]))
    refs = [str(ref) for ref in spec["refs"]]  # type: ignore[attr-defined]
    images_file = Path(root) / "var" / "tmp" / "bench-images.txt"
    images_file.write_text("".join(f"{ref}\n" for ref in refs))
    results: dict[str, list[tuple[float, float]]] = {}

    def agent(method: str, parallel: object) -> tuple[float, float]:
        argv = [AGENT, "check", "--host-root", root, "--images-file", str(images_file)]
        argv += ["-o", "json", "--method", method, "--storage-driver", driver]
        if parallel is not None:
            argv += ["--parallel", str(parallel)]
        return timed(argv)

    def manual_pulls(number: int) -> tuple[float, float]:
        store = f"/var/tmp/bench-many-{number}"
        base = ["chroot", root, "podman", "--root", f"{store}/root", "--runroot", f"{store}/run"]
        base += ["--storage-driver", driver, "pull", "--log-level=debug"]
        try:
            return _total([timed([*base, ref]) for ref in refs])
        finally:
            subprocess.run(["chroot", root, "rm", "-rf", store], check=True)

    def manual_manifests() -> tuple[float, float]:
        skopeo = ["chroot", root, "skopeo", "--debug", "inspect", "--raw"]
        return _total([timed([*skopeo, f"docker://{ref}"]) for ref in refs])

    agent("pull", None)  # warm-up: page cache, registry
    for number in range(rounds):
        results.setdefault("manual pull", []).append(manual_pulls(number))
        for parallel in PULL_PARALLEL:
            results.setdefault(f"agent pull {parallel}", []).append(agent("pull", parallel))
        results.setdefault("manual manifest", []).append(manual_manifests())
        for parallel in MANIFEST_PARALLEL:
            results.setdefault(f"agent manifest {parallel}", []).append(agent("manifest", parallel))
    print(json.dumps(results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--driver", default="overlay", choices=["overlay", "vfs"])
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inner:
        inner(json.loads(options.inner))
        return 0

    with tempfile.TemporaryDirectory(prefix="mab-") as scratch, Lab(Path(scratch)) as lab:
        registry = lab.start_registry("mirror")
        refs = []
        for number in range(TINY + MEDIUM):
            size = 1024 if number < TINY else 10 * 10**6
            image = lab.build_image(f"bench/img{number}:1", size_bytes=size)
            digest = lab.push(image, registry, f"mirror/team/img{number}")
            refs.append(f"{SOURCE}/img{number}@{digest}")
        conf = (
            f'[[registry]]\nlocation = "{SOURCE}"\n\n'
            f'[[registry.mirror]]\nlocation = "{registry.host}/mirror/team"\ninsecure = true\n'
        )
        root = build_host_root(lab, conf, storage_driver=options.driver)
        spec = {"root": str(root), "driver": options.driver, "rounds": options.rounds}
        spec["refs"] = refs  # type: ignore[assignment]
        argv = [sys.executable, str(Path(__file__).resolve()), "--inner", json.dumps(spec)]
        done = subprocess.run(host_root_argv(root, argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"benchmark failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        results = json.loads(done.stdout.strip().splitlines()[-1])

    def median(key: str) -> float:
        return statistics.median(wall for wall, _ in results[key])

    def cpu(key: str) -> float:
        return statistics.median(cpu for _, cpu in results[key])

    print(
        f"{TINY} tiny + {MEDIUM} x 10 MB images, storage driver {options.driver}; "
        f"medians of {options.rounds} alternating rounds (whole processes)"
    )
    for method, parallels in (("pull", PULL_PARALLEL), ("manifest", MANIFEST_PARALLEL)):
        manual = median(f"manual {method}")
        tool = "podman pull --log-level=debug" if method == "pull" else "skopeo inspect --raw"
        print(
            f"{method}: manual, 24 serial `{tool}`: {manual:6.2f} s "
            f"(CPU {cpu(f'manual {method}'):5.2f} s)"
        )
        for parallel in parallels:
            agent = median(f"agent {method} {parallel}")
            label = "default" if parallel is None else str(parallel)
            target = "  (target <= 0.7: " + ("met)" if agent / manual <= 0.7 else "NOT met)")
            print(
                f"   agent check --parallel {label:<8} {agent:6.2f} s "
                f"(CPU {cpu(f'agent {method} {parallel}'):5.2f} s)   ratio {agent / manual:.2f}"
                + (target if parallel is None else "")
            )
    print(
        "CPU: user + system time of the commands and every process they waited for; on "
        f"{os.cpu_count()} cores a run cannot take less than its CPU time / the free cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
