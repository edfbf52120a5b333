"""The README demo: mirror-agent against a self-contained local lab, with a fallback.

Starts three real registries on loopback (two mirrors and the source), pushes a tiny
image to the second mirror and the source only, takes the first mirror down, writes a
node-like host root whose registries.conf lists both mirrors, then:

1. `agent config` and `agent explain` show the configuration and the order in which a
   node must try the sources;
2. a real `podman pull --log-level=debug` with that registries.conf shows what podman
   actually tried, which must be exactly that order: first mirror refused, second serves.

Everything runs under a temporary folder and is stopped at the end.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.lab import Lab  # noqa: E402  (the project root must be importable first)

AGENT = str(PROJECT / ".venv" / "bin" / "agent")
TRYING = re.compile(r'msg="Trying to access \\"([^"\\]+)\\""')
FAILED = re.compile(r'msg="Accessing \\"([^"\\]+)\\" failed: (.*)"$')


def show(argv: list[str]) -> str:
    print(f"$ {shlex.join(['agent', *argv[1:]] if argv[0] == AGENT else argv)}")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    print(done.stdout + done.stderr, end="")
    print()
    if done.returncode != 0:
        raise SystemExit(f"demo: exit {done.returncode}")
    return done.stdout


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="mirror-agent-demo-") as scratch,
        Lab(Path(scratch)) as lab,
    ):
        mirror_a = lab.start_registry("mirror-a")
        mirror_b = lab.start_registry("mirror-b")
        source = lab.start_registry("source")
        image = lab.build_image("demo/app:1.0")
        digest = lab.push(image, mirror_b, "mirror-b/team/app")
        lab.push(image, source, "team/app")
        mirror_a.stop()
        print(f"lab: mirror-a {mirror_a.host} (stopped), mirror-b {mirror_b.host}, ")
        print(f"     source {source.host}; image {source.host}/team/app@{digest}")
        print()

        host_root = lab.write_host_root(
            f"""# As the Machine Config Operator renders an ImageDigestMirrorSet (plain-HTTP lab).
[[registry]]
prefix = ""
location = "{source.host}/team"
insecure = true

[[registry.mirror]]
location = "{mirror_a.host}/mirror-a/team"
insecure = true
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "{mirror_b.host}/mirror-b/team"
insecure = true
pull-from-mirror = "digest-only"
"""
        )
        reference = f"{source.host}/team/app@{digest}"
        podman_version = subprocess.run(
            ["podman", "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        options = ["--host-root", str(host_root), "--podman-version", podman_version]
        show([AGENT, "config", *options])
        show([AGENT, "explain", reference, *options])
        explained = subprocess.run(
            [AGENT, "explain", reference, *options, "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        expected = [s["location"] for s in json.loads(explained)["results"][0]["pullSources"]]

        conf = host_root / "etc" / "containers" / "registries.conf"
        print(f"$ podman pull --log-level=debug {reference}   (CONTAINERS_REGISTRIES_CONF={conf})")
        pulled = lab.run_sandboxed(
            lab.podman_argv("pull", "--log-level=debug", reference),
            env={"CONTAINERS_REGISTRIES_CONF": str(conf)},
            check=False,
        )
        tried = []
        for line in pulled.stderr.splitlines():
            if trying := TRYING.search(line):
                tried.append(trying.group(1))
                print(f'  Trying to access "{trying.group(1)}"')
            elif failed := FAILED.search(line):
                print(f"    failed: {failed.group(2)[:110]}")
        print(f"  exit {pulled.returncode}; served by {tried[-1] if tried else 'nothing'}")
        print()
        agrees = pulled.returncode == 0 and tried == expected[: len(tried)]
        print(
            "podman tried the sources in the order agent explain predicted: "
            + ("yes" if agrees else "NO")
        )
        return 0 if agrees else 1


if __name__ == "__main__":
    sys.exit(main())
