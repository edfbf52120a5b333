"""Every path on the node the agent reads or hands to a command, and where it finds them.

The node's filesystem is seen by the agent under a host root (``/host`` in a debug pod or
the DaemonSet, ``/`` when it runs on the node itself). That root is the one override
point: every node path below is absolute on the node and reaches the agent's side only
through :meth:`HostRoot.resolve`, which follows symlinks the way ``chroot`` would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ConfigError, ExitCode

# -- registries.conf (containers/image, podman running as root) -------------------------
SYSTEM_MAIN = "/etc/containers/registries.conf"
SYSTEM_DROP_INS = "/etc/containers/registries.conf.d"
ROOT_HOME = "/root"
#: Relative to a user's home: the per-user file and drop-ins.
USER_MAIN = ".config/containers/registries.conf"
USER_DROP_INS = ".config/containers/registries.conf.d"
ALIAS_CACHE = "/var/cache/containers/short-name-aliases.conf"
USER_ALIAS_CACHE = ".cache/containers/short-name-aliases.conf"

# -- what the container runtime pulls with ----------------------------------------------
#: CRI-O's global pull secret (written by the Machine Config Operator).
AUTH_FILE = "/var/lib/kubelet/config.json"
#: The proxy variables CRI-O gets (systemd EnvironmentFile syntax).
PROXY_ENV_FILE = "/etc/mco/proxy.env"
STORAGE_CONF = "/etc/containers/storage.conf"
#: The node's image store (CRI-O's and podman's) when storage.conf names no graphroot.
NODE_STORE = "/var/lib/containers/storage"

# -- what the agent's commands use on the node --------------------------------------------
#: PATH given to every command on the node (RHCOS keeps podman and skopeo in /usr/bin).
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Where scratch stores and temporary files go unless told otherwise.
SCRATCH_PARENT = "/var/tmp"

#: Where a debug pod or the DaemonSet mounts the node's ``/``.
HOST_MOUNT = Path("/host")

_MAX_SYMLINKS = 40


@dataclass(frozen=True)
class HostRoot:
    """The node's filesystem as seen by the agent (``/host`` in a debug pod or DaemonSet)."""

    root: Path

    def resolve(self, node_path: str) -> Path:
        """Where the node's absolute ``node_path`` is on the agent's filesystem: an
        absolute symlink on the node points into the host root, never into the agent's own
        filesystem."""
        if self.root == Path("/"):
            return Path(node_path)
        pending = [part for part in node_path.split("/") if part not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.root.joinpath(*resolved, part)
            if _is_symlink(candidate, node_path):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise ConfigError(
                        "file-unreadable", f"too many levels of symbolic links in {node_path}"
                    )
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            resolved.append(part)
        return self.root.joinpath(*resolved)


def _is_symlink(candidate: Path, node_path: str) -> bool:
    """Whether ``candidate`` is a symlink; a folder the agent may not enter is an error
    naming it (the environment's fault: not root), never a traceback."""
    try:
        return candidate.is_symlink()
    except PermissionError:
        raise ConfigError(
            "file-unreadable",
            f"cannot look into {candidate.parent} (reading {node_path}): permission denied",
            file=str(candidate),
            exit_code=ExitCode.ENVIRONMENT,
            hint="the agent reads the node's files as root (oc debug node/X, or the "
            "DaemonSet's privileged pod)",
        ) from None
    except OSError:
        return False


def default_host_root(mount: Path = HOST_MOUNT) -> Path:
    """``mount`` (``/host``) when it holds a node's ``etc/containers`` (oc debug,
    DaemonSet), else ``/``."""
    if (mount / "etc" / "containers").is_dir():
        return mount
    return Path("/")
