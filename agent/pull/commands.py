"""The command lines run on the node: podman, skopeo and journalctl, as argument lists.

Pure: each function returns the argv (a tuple; never a shell string) or the environment
of a command, built the way the container runtime would pull (docs/pull-resolution.md
§6): the node's global pull secret as ``--authfile``, never ``--tls-verify=false``. An
image is an :class:`ImageReference`, parsed where it entered the agent, so it cannot be
read as an option; any other value a command could take for one is refused with a
UsageError before any argv exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Optional

from agent.errors import UsageError
from agent.node.paths import NODE_PATH, ROOT_HOME
from agent.reference import ImageReference

__all__ = [
    "PODMAN_VERSION_ARGV",
    "check_storage_driver",
    "crio_journal_argv",
    "node_env",
    "on_node",
    "podman_pull_argv",
    "scratch_containers_conf",
    "skopeo_inspect_argv",
]

#: ``podman --version`` only reads configuration files; ``podman version`` would set up
#: the runtime on the node's own store (CRI-O's), creating podman's database there.
PODMAN_VERSION_ARGV = ("podman", "--version")

_STORAGE_DRIVER = re.compile(r"[a-z0-9_-]+")


def check_storage_driver(name: str) -> None:
    if not _STORAGE_DRIVER.fullmatch(name):
        raise UsageError(f"not a storage driver name: {name!r}")


def _major(release: Optional[str]) -> int:
    """4 for ``4.3.1``; 0 when unknown."""
    head = (release or "").split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def on_node(argv: Sequence[str], chroot: Optional[str]) -> tuple[str, ...]:
    """``argv`` as run on the node: inside ``chroot <host root>`` when the node's
    filesystem is mounted elsewhere (``chroot`` is that host root), else as it is."""
    if chroot is not None:
        return ("chroot", chroot, *argv)
    return tuple(argv)


def node_env(
    proxy_env: Mapping[str, str], extra: Optional[Mapping[str, str]] = None
) -> dict[str, str]:
    """The complete environment of a command: nothing from the agent's own."""
    env = {"PATH": NODE_PATH, "LANG": "C", "HOME": ROOT_HOME}
    env.update(proxy_env)
    env.update(extra or {})
    return env


def podman_pull_argv(
    reference: ImageReference,
    *,
    scratch: Optional[str],
    storage_driver: Optional[str] = None,
    podman_release: Optional[str] = None,
    auth_file: Optional[str] = None,
) -> tuple[str, ...]:
    """``podman pull --log-level=debug`` (before chroot) of ``reference``; ``scratch`` is
    the node path of the throw-away store, None for the node's own store."""
    argv = ["podman"]
    if scratch is not None:
        argv += ["--root", f"{scratch}/root", "--runroot", f"{scratch}/run"]
        if storage_driver:
            argv += ["--storage-driver", storage_driver]
        # The rest of podman's state stays in the scratch folder too: with the node's
        # /run/libpod, a scratch podman that is the first since boot creates its "alive"
        # file, and the node's own podman then skips its after-boot refresh (two
        # containers can end up with one lock). No events in the node's journal.
        argv += ["--tmpdir", f"{scratch}/libpod", "--events-backend", "none"]
        argv += ["--network-config-dir", f"{scratch}/networks"]
    argv += ["pull", "--log-level=debug"]
    if _major(podman_release) >= 5:
        # CRI-O walks the sources once; podman 5 retries the whole list 3 times unless
        # told not to (4.x cannot be told), which turns a failure into a timeout
        argv += ["--retry", "0"]
    if auth_file:
        argv += ["--authfile", auth_file]
    return (*argv, "--", str(reference))


def scratch_containers_conf(scratch: str) -> str:
    """The containers.conf a scratch pull reads instead of the node's (``CONTAINERS_CONF``:
    podman then reads only this file; CRI-O, whose pulls are reproduced, reads none).

    It keeps podman's container locks inside the scratch folder (file locks under
    ``--tmpdir`` rather than the node's shared ``/dev/shm/libpod_lock``), and the copy's
    temporary files in the store's ``tmp/``.
    """
    lines = [
        "# mirror-agent: a scratch pull's own settings (docs/security.md)",
        "[engine]",
        'lock_type = "file"',
        f'image_copy_tmp_dir = "{scratch}/tmp"',
    ]
    return "\n".join(lines) + "\n"


def skopeo_inspect_argv(
    reference: ImageReference,
    *,
    auth_file: Optional[str] = None,
    registries_conf: Optional[str] = None,
) -> tuple[str, ...]:
    """``skopeo --debug inspect --raw`` (before chroot): the manifest only, through the
    same mirrors; ``registries_conf`` is an absolute node path used instead of the node's
    main registries.conf."""
    argv = ["skopeo", "--debug"]
    if registries_conf is not None:
        if not registries_conf.startswith("/"):
            raise UsageError(f"registries_conf must be an absolute node path: {registries_conf}")
        # skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF (it reads the node's main file
        # anyway); its hidden global flag --registries-conf works (checked: 1.9.3)
        argv += ["--registries-conf", registries_conf]
    argv += ["inspect", "--raw"]
    if auth_file:
        argv += ["--authfile", auth_file]
    return (*argv, f"docker://{reference}")


def crio_journal_argv(since: str) -> tuple[str, ...]:
    """CRI-O's journal since ``since`` (a journalctl time such as ``-24h``)."""
    if not since or any(ord(ch) < 32 for ch in since):
        raise UsageError(f"not a journalctl time: {since!r}")
    return ("journalctl", "-u", "crio", "--since", since, "--no-pager", "-o", "short-iso")
