"""The README demo: `agent check` on a node-like host root against a local lab.

Starts three real registries on loopback (two mirrors and the source), pushes a tiny
image to the second mirror and the source only, takes the first mirror down, and
assembles a chroot-able host root (what a node's / looks like at /host in a debug pod)
whose registries.conf lists both mirrors as the Machine Config Operator writes an
ImageDigestMirrorSet. Then, as an administrator would on a node:

1. `agent explain` shows the order in which the node must try the sources;
2. `agent check` really pulls the image by digest with the node's podman (in
   `chroot <host root>`, throwaway storage) and judges it: the first mirror is down, the
   second serves it — fallback works, which is a warning worth knowing about.

Everything runs under a temporary folder and is stopped at the end. Needs root.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.support.hostroot import build_host_root, run_in_host_root  # noqa: E402
from tests.support.lab import Lab  # noqa: E402

AGENT = str(PROJECT / ".venv" / "bin" / "agent")


def show(lab: Lab, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    print(f"$ agent {shlex.join(args)}")
    done = run_in_host_root(root, [AGENT, *args], lab=lab)
    print(done.stdout + done.stderr, end="")
    print(f"(exit {done.returncode})\n")
    return done


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
        print(
            f"lab: mirror-a {mirror_a.host} (stopped), mirror-b {mirror_b.host}, "
            f"source {source.host}"
        )
        print(f"image: {source.host}/team/app@{digest} (on mirror-b and the source)\n")

        registries_conf = f"""\
# As the Machine Config Operator renders an ImageDigestMirrorSet (plain-HTTP lab: insecure).
unqualified-search-registries = []

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
        root = build_host_root(lab, registries_conf)
        print(f"node host root: {root}")
        print(f"$ cat {root}/etc/containers/registries.conf\n{registries_conf}")
        reference = f"{source.host}/team/app@{digest}"
        show(lab, root, "explain", reference, "--host-root", str(root))
        # One real pull: the table shows the verdict and the finding that proves fallback.
        done = show(
            lab,
            root,
            "check",
            "--host-root",
            str(root),
            "--image",
            reference,
            "--storage-driver",
            "vfs",
        )
        fell_back = "fallback-to-later-mirror:" in done.stdout
        print("fallback shown:", "yes" if fell_back else "NO")
        return 0 if fell_back and done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
