"""kubectl's habit of cluster flags before the subcommand (``kubectl mirror-agent -n x
collect``): the flags are moved after the command they belong to, which declares them
(agent/cli/options.py). Pure: argument lists in and out, the command tree read only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

# the cluster flags a command may declare, and whether each takes a value
CLUSTER_FLAGS = ("-n", "--namespace", "--reports-namespace", "--context", "--kubeconfig")
ROOT_FLAGS = ("-v", "--verbose")


def _cluster_flag(token: str) -> Optional[str]:
    """The flag ``token`` starts (``--context`` of ``--context=x``), if a cluster flag."""
    name = token.split("=", 1)[0] if token.startswith("--") else token
    return name if name in CLUSTER_FLAGS else None


def move_cluster_flags(root: Any, args: Sequence[str]) -> list[str]:
    """``args`` with the cluster flags given before the command placed right after it, when
    that command declares them; otherwise unchanged (click then names the unknown option).
    ``root`` is the application's click command (a group: ``commands`` maps names)."""
    moved: list[str] = []
    names: set[str] = set()
    kept: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        flag = _cluster_flag(token)
        if flag is not None:
            names.add(flag)
            if "=" in token or index + 1 == len(args):
                moved.append(token)
                index += 1
            else:
                moved += [token, args[index + 1]]
                index += 2
        elif token in ROOT_FLAGS:
            kept.append(token)
            index += 1
        else:
            break
    if not moved:
        return list(args)
    rest = list(args[index:])
    command, depth = root, 0
    while _subcommands(command) and depth < len(rest):
        sub = _subcommands(command).get(rest[depth])
        if sub is None:
            break
        command, depth = sub, depth + 1
    declared = {name for param in command.params for name in getattr(param, "opts", ())}
    if depth == 0 or _subcommands(command) or not names <= declared:
        return list(args)
    return [*kept, *rest[:depth], *moved, *rest[depth:]]


def _subcommands(command: Any) -> dict[str, Any]:
    """A group's commands by name; empty for a command (typer vendors click's classes)."""
    found = getattr(command, "commands", None)
    return found if isinstance(found, dict) else {}
