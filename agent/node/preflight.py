"""Before touching the node: can the agent reach the node's root filesystem at all?

In the agent's image (``MIRROR_AGENT_HOST_ROOT`` is set, to ``/host``) the node's ``/`` must
be mounted at that path and the container must be privileged: ``agent check`` and ``agent
run`` run the node's podman and skopeo through ``chroot``, and podman mounts and unshares
in the node's root. Without that, the failures come late and say little (``chroot:
cannot change root directory``, an empty configuration read from the image's own ``/``), so
they are caught first, all in one line with what provides each: the DaemonSet (hostPath
``/`` at ``/host``, ``privileged: true``) or ``oc debug node/<name>`` (the same).

Outside the image nothing changes: ``--host-root``, else ``/host`` when it holds
``etc/containers``, else ``/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from agent.errors import EnvironmentFailure
from agent.node.paths import default_host_root

#: Set by the Containerfile: where the node's / is mounted in the agent's image.
HOST_ROOT_ENV = "MIRROR_AGENT_HOST_ROOT"
NODE_CONFIG = "etc/containers"
CAP_SYS_CHROOT = 18
CAP_SYS_ADMIN = 21
_PROVIDED_BY = (
    "the DaemonSet mounts it (hostPath path: /) and oc debug node/<name> does too, at /host"
)


class NodeAccessError(EnvironmentFailure):
    """The agent cannot reach the node: no node root where expected, or not privileged."""

    kind = "environment"


@dataclass(frozen=True)
class NodeFacts:
    """What the agent's process sees of the node and of itself (see :func:`observe`)."""

    root: Path
    root_is_dir: bool
    holds_node_config: bool
    """``<root>/etc/containers`` is a directory: every node running CRI-O has one."""
    uid: int
    capabilities: Optional[int]
    """The effective capability mask, None when it cannot be read."""


def effective_capabilities(status_text: str) -> Optional[int]:
    """The ``CapEff`` mask of a ``/proc/<pid>/status`` text, None when it has none."""
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key == "CapEff":
            try:
                return int(value.strip(), 16)
            except ValueError:
                return None
    return None


def problems(facts: NodeFacts, *, privileged: bool = True) -> list[str]:
    """Why the agent cannot work on the node, as clauses of one sentence (empty: it can).

    ``privileged``: the command runs the node's tools, so root and privileges count too.
    """
    found = []
    root = facts.root
    if not facts.root_is_dir:
        found.append(f"{root} does not exist: the node's / is not mounted there ({_PROVIDED_BY})")
    elif not facts.holds_node_config:
        found.append(
            f"{root} does not hold a node's root filesystem (no {root}/{NODE_CONFIG}): "
            f"mount the node's / there ({_PROVIDED_BY})"
        )
    if not privileged:
        return found
    if facts.uid != 0:
        found.append(
            f"the agent runs as uid {facts.uid}, not root (the DaemonSet sets runAsUser: 0; "
            "oc debug node/<name> runs as root)"
        )
    needed = (1 << CAP_SYS_ADMIN) | (1 << CAP_SYS_CHROOT)
    if facts.capabilities is not None and facts.capabilities & needed != needed:
        found.append(
            "the container is not privileged (it lacks CAP_SYS_ADMIN or CAP_SYS_CHROOT, which "
            "chroot and the node's podman need): the DaemonSet sets securityContext "
            "privileged: true, oc debug node/<name> is privileged, podman run needs --privileged"
        )
    return found


def observe(root: Path) -> NodeFacts:
    """Look at ``root`` and at this process (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            capabilities = effective_capabilities(status.read())
    except OSError:
        capabilities = None
    return NodeFacts(
        root=root,
        root_is_dir=root.is_dir(),
        holds_node_config=(root / NODE_CONFIG).is_dir(),
        uid=os.geteuid(),
        capabilities=capabilities,
    )


def node_root(
    option: Optional[Path],
    *,
    privileged: bool,
    env: Mapping[str, str] = os.environ,
    look: Optional[Callable[[Path], NodeFacts]] = None,
) -> Path:
    """The node's root for a command: ``--host-root`` when given, in the image the path
    ``MIRROR_AGENT_HOST_ROOT`` names, else :func:`default_host_root`.

    In the image the root must hold a node's root filesystem and, for commands that run
    the node's tools (``privileged``), the agent must be root and privileged; otherwise
    :class:`NodeAccessError` (exit code 69) says what is missing and what provides it.
    """
    image_root = env.get(HOST_ROOT_ENV)
    if not image_root:
        return option if option is not None else default_host_root()
    root = option if option is not None else Path(image_root)
    found = problems((look or observe)(root), privileged=privileged)
    if found:
        raise NodeAccessError("cannot work on the node: " + "; ".join(found))
    return root
