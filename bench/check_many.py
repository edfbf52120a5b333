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
the ratios, and the CPU time each run used (concurrency only helps while cores are free),
including the CPU the lab's registry spent answering (on this machine it shares the cores).

Then where the agent's extra CPU goes, measured in the same rounds:
  fresh stores      the manual pulls again, each into a fresh store that is then removed
                    (the agent's scratch store per image: a pull never reuses a layer)
  size estimates    24 serial `skopeo inspect --raw`: the manifest the agent fetches before
                    each pull to check the node's free space (issue 10)
  agent process     `agent explain` of one reference: the agent's start (Python, imports)
and the floor those set: (CPU of the run + the registry's) / cores.
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

import psutil  # noqa: E402

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


_REGISTRY: list[psutil.Process] = []  # the lab's registry, whose CPU is counted too


def _registry_cpu() -> float:
    if not _REGISTRY:
        return 0.0
    times = _REGISTRY[0].cpu_times()
    return float(times.user + times.system)


def timed(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """Wall time, CPU time (of the command and every process it waited for) and the CPU
    the registry spent meanwhile."""
    cpu, served = _children_cpu(), _registry_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"failed ({done.returncode}): {argv}\n{done.stderr[-2000:]}")
    return elapsed, _children_cpu() - cpu, _registry_cpu() - served


def _total(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return (
        sum(run[0] for run in runs),
        sum(run[1] for run in runs),
        sum(run[2] for run in runs),
    )


def inner(spec: dict[str, object]) -> None:
    """Runs inside the host root's mount namespace: the timing rounds."""
    root = str(spec["root"])
    driver = str(spec["driver"])
    rounds = int(str(spec["rounds"]))
    refs = [str(ref) for ref in spec["refs"]]  # type: ignore[attr-defined]
    _REGISTRY.append(psutil.Process(int(str(spec["registry_pid"]))))
    images_file = Path(root) / "var" / "tmp" / "bench-images.txt"
    images_file.write_text("".join(f"{ref}\n" for ref in refs))
    results: dict[str, list[tuple[float, float, float]]] = {}

    def agent(method: str, parallel: object) -> tuple[float, float, float]:
        argv = [AGENT, "check", "--host-root", root, "--images-file", str(images_file)]
        argv += ["-o", "json", "--method", method, "--storage-driver", driver]
        if parallel is not None:
            argv += ["--parallel", str(parallel)]
        return timed(argv)

    def pull_argv(store: str, ref: str) -> list[str]:
        argv = ["chroot", root, "podman", "--root", f"{store}/root", "--runroot", f"{store}/run"]
        return [*argv, "--storage-driver", driver, "pull", "--log-level=debug", ref]

    def manual_pulls(number: int) -> tuple[float, float, float]:
        store = f"/var/tmp/bench-many-{number}"
        try:
            return _total([timed(pull_argv(store, ref)) for ref in refs])
        finally:
            subprocess.run(["chroot", root, "rm", "-rf", store], check=True)

    def fresh_store_pulls(number: int) -> tuple[float, float, float]:
        runs = []
        for index, ref in enumerate(refs):
            store = f"/var/tmp/bench-fresh-{number}-{index}"
            runs.append(timed(pull_argv(store, ref)))
            runs.append(timed(["chroot", root, "rm", "-rf", store]))
        return _total(runs)

    def manual_manifests() -> tuple[float, float, float]:
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
        results.setdefault("fresh stores", []).append(fresh_store_pulls(number))
        results.setdefault("agent explain", []).append(
            timed([AGENT, "explain", "--host-root", root, refs[0]])
        )
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
        spec["registry_pid"] = registry.pid
        spec["refs"] = refs  # type: ignore[assignment]
        argv = [sys.executable, str(Path(__file__).resolve()), "--inner", json.dumps(spec)]
        done = subprocess.run(host_root_argv(root, argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"benchmark failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        results = json.loads(done.stdout.strip().splitlines()[-1])

    def median(key: str, index: int = 0) -> float:
        return statistics.median(run[index] for run in results[key])

    def cpu(key: str) -> float:
        return median(key, 1)

    def served(key: str) -> float:
        return median(key, 2)

    cores = os.cpu_count() or 1
    print(
        f"{TINY} tiny + {MEDIUM} x 10 MB images, storage driver {options.driver}; "
        f"medians of {options.rounds} alternating rounds (whole processes); {cores} cores"
    )
    for method, parallels in (("pull", PULL_PARALLEL), ("manifest", MANIFEST_PARALLEL)):
        manual = median(f"manual {method}")
        tool = "podman pull --log-level=debug" if method == "pull" else "skopeo inspect --raw"
        print(
            f"{method}: manual, 24 serial `{tool}`: {manual:6.2f} s "
            f"(CPU {cpu(f'manual {method}'):5.2f} s, registry {served(f'manual {method}'):4.2f} s)"
        )
        for parallel in parallels:
            key = f"agent {method} {parallel}"
            agent = median(key)
            label = "default" if parallel is None else str(parallel)
            target = "  (target <= 0.7: " + ("met)" if agent / manual <= 0.7 else "NOT met)")
            print(
                f"   agent check --parallel {label:<8} {agent:6.2f} s "
                f"(CPU {cpu(key):5.2f} s, registry {served(key):4.2f} s)   "
                f"ratio {agent / manual:.2f}" + (target if parallel is None else "")
            )
    print(
        "CPU: user + system time of the commands and every process they waited for; "
        "registry: the CPU the lab's registry spent answering them (the same cores)"
    )
    manual_pull, fresh, sizes = cpu("manual pull"), cpu("fresh stores"), cpu("manual manifest")
    start = cpu("agent explain")
    print("\nwhere the agent's CPU goes (pulls, --parallel 1, medians):")
    print(f"   manual pulls, one store                 {manual_pull:6.2f} s")
    print(f"   + a fresh store per image, removed      {fresh - manual_pull:+6.2f} s")
    print(f"   + 24 size estimates (skopeo inspect)     {sizes:+6.2f} s")
    print(f"   + the agent's start (agent explain)      {start:+6.2f} s")
    rest = cpu("agent pull 1") - fresh - sizes - start
    print(f"   + the rest (the agent per image: {rest / 24 * 1000:.0f} ms)   {rest:+6.2f} s")
    print(f"   = agent check --parallel 1              {cpu('agent pull 1'):6.2f} s")
    for method in ("pull", "manifest"):
        key = f"agent {method} None"
        floor = (cpu(key) + served(key)) / cores
        manual = median(f"manual {method}")
        print(
            f"floor for {method}s on {cores} free cores: ({cpu(key):.2f} s + registry "
            f"{served(key):.2f} s) / {cores} = {floor:.2f} s, a ratio of {floor / manual:.2f} "
            f"(measured {median(key) / manual:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
