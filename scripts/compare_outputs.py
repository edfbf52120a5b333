"""Record what the CLI prints for the repository's test data, to compare two revisions.

A refactoring must not change behaviour. This script runs `agent explain` and `agent config`
on every registries.conf conformance case and `agent analyze` on every recorded podman/skopeo
log, in JSON and as tables, and writes one file per command line into a folder. Run it with
two checkouts' interpreters and compare the folders:

    git worktree add /tmp/before <old revision>
    .venv/bin/python scripts/compare_outputs.py --source /tmp/before --out /tmp/out-before
    .venv/bin/python scripts/compare_outputs.py --source . --out /tmp/out-after
    diff -r /tmp/out-before /tmp/out-after && echo identical

The test data always comes from this checkout (tests/data), so both runs see the same
input. Fields that name the moment or the agent's version are the only ones blanked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
FIXED_TIME = "2026-01-01T00:00:00Z"
# The moment a table says it was made ("checked: 2026-…Z") is blanked like the JSON fields.
NOW_IN_TABLES = re.compile(r"(checked|generated): \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
VOLATILE = ("checkedAt", "generatedAt", "agentVersion", "durationSeconds")
# How each revision starts its CLI: `python -m agent.cli` before the cli/ package existed.
ENTRY_POINTS = ("agent.cli.app", "agent.cli")


def _entry_point(source: Path) -> str:
    for module in ENTRY_POINTS:
        if (source / (module.replace(".", "/") + ".py")).is_file():
            return module
    raise SystemExit(f"{source}: no agent CLI found ({', '.join(ENTRY_POINTS)})")


def _blank_volatile(value: object) -> object:
    if isinstance(value, dict):
        return {k: ("-" if k in VOLATILE else _blank_volatile(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_volatile(item) for item in value]
    return value


def _run(source: Path, argv: list[str], scratch: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", _entry_point(source), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=source,
        timeout=60,
        check=False,
    )
    out = done.stdout
    if "-o" in argv and argv[argv.index("-o") + 1] == "json" and out.strip():
        with contextlib.suppress(json.JSONDecodeError):
            out = json.dumps(_blank_volatile(json.loads(out)), indent=1, sort_keys=True) + "\n"
    text = f"exit {done.returncode}\n--- stdout\n{out}--- stderr\n{done.stderr}"
    return NOW_IN_TABLES.sub(r"\1: -", text).replace(str(scratch), "<scratch>")


def _case_root(case: dict[str, object], into: Path) -> Path:
    files = case["files"]
    assert isinstance(files, dict)
    into.mkdir()
    for relative, text in files.items():
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return into


def _conformance(source: Path, out: Path, scratch: Path) -> int:
    count = 0
    for path in sorted((DATA / "conformance").glob("*.json")):
        case = json.loads(path.read_text())
        root = _case_root(case, scratch / path.stem)
        common = ["--host-root", str(root), "--home", "/home/user"]
        override = case.get("env", {}).get("CONTAINERS_REGISTRIES_CONF")
        if override:
            common += ["--registries-conf", str(root / override.lstrip("/"))]
        for podman in ([], ["--podman-version", "4.3.1"]):
            tag = "-legacy" if podman else ""
            for output in ("json", "table"):
                argv = ["explain", case["reference"], *common, *podman, "-o", output]
                (out / f"explain-{path.stem}{tag}.{output}").write_text(_run(source, argv, scratch))
                argv = ["config", *common, *podman, "-o", output]
                (out / f"config-{path.stem}{tag}.{output}").write_text(_run(source, argv, scratch))
                count += 2
    return count


def _registries_for(log: Path, scratch: Path) -> Path:
    """The fixture's registries file: the longest file name that starts the log's name, or
    the text its sidecar JSON holds (real-shaped logs), else an empty file."""
    confs = sorted((log.parent / "registries").glob("*.conf"), key=lambda p: -len(p.stem))
    for conf in confs:
        if log.stem.startswith(conf.stem) or log.stem.startswith("skopeo-" + conf.stem):
            return conf
    if confs:
        return confs[-1]
    sidecar = log.with_suffix(".json")
    text = ""
    if sidecar.is_file():
        text = str(json.loads(sidecar.read_text()).get("registries") or "")
    written = scratch / f"{log.parent.name}-{log.stem}.conf"
    written.write_text(text)
    return written


def _fixtures(source: Path, out: Path, scratch: Path) -> int:
    count = 0
    empty_root = scratch / "empty-root"
    empty_root.mkdir()
    for log in sorted((DATA / "fixtures").rglob("*.log")):
        conf = _registries_for(log, scratch)
        for output in ("json", "table", "wide"):
            argv = ["analyze", str(log), "--host-root", str(empty_root)]
            argv += ["--registries-conf", str(conf), "--podman-version", "4.3.1", "-o", output]
            name = f"analyze-{log.parent.name}-{log.stem}.{output}"
            (out / name).write_text(_run(source, argv, scratch))
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the checkout to run")
    parser.add_argument("--out", type=Path, required=True, help="an empty or new folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        count = _conformance(args.source.resolve(), args.out, Path(scratch))
        count += _fixtures(args.source.resolve(), args.out, Path(scratch))
    print(f"{count} outputs written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
