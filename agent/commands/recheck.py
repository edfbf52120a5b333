"""``agent recheck``: ask every node (or one) to check now, through a key of the checks
ConfigMap the DaemonSet mounts (``recheck.json``, written by server-side apply under its
own field manager); and, for ``agent run``, the requests that concern its node.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from agent.errors import EnvironmentFailure, UsageError
from agent.kube.client import KubeClient, NotFound, configmap_path, node_path
from agent.kube.contract import (
    CHECKS_CONFIGMAP,
    RECHECK_ALL,
    RECHECK_FIELD_MANAGER,
    RECHECK_KEY,
    parse_recheck,
    recheck_requests,
    recheck_seen,
    recheck_text,
)
from agent.safe_read import CHECKS_FILE_LIMIT, UnsafeFile, read_text


def seen_requests(images_file: Optional[Path], node: str) -> dict[str, str]:
    """The recheck ids in the mounted checks folder that concern ``node`` (none when the
    key is not there: a ConfigMap without it, or no checks file at all)."""
    return read_recheck(images_file, node)[0]


def read_recheck(images_file: Optional[Path], node: str) -> tuple[dict[str, str], str]:
    """:func:`seen_requests`, and what is wrong with the mounted ``recheck.json`` ("" when
    nothing): a file that is not a bounded regular file of UTF-8 JSON holds no request."""
    if images_file is None:
        return {}, ""
    path = images_file.parent / RECHECK_KEY
    try:
        text = read_text(path, limit=CHECKS_FILE_LIMIT, missing_ok=True) or ""
    except UnsafeFile as error:  # a FIFO, too large, not UTF-8...
        return {}, str(error)
    requests, problem = parse_recheck(text, str(path))
    return recheck_seen(requests, node), problem


@dataclass(frozen=True)
class RecheckRequest:
    target: str  # a node, or RECHECK_ALL
    request_id: str
    requested_at: str


def request_recheck(
    client: KubeClient, namespace: str, node: Optional[str], *, now: str
) -> RecheckRequest:
    """Write a new request for ``node`` (None: every node) into the checks ConfigMap."""
    if node is not None:
        try:
            client.get(node_path(node))
        except NotFound:
            raise UsageError(f"--node {node}: no such node") from None
    path = configmap_path(namespace, CHECKS_CONFIGMAP)
    try:
        checks = client.get(path)
    except NotFound:
        raise EnvironmentFailure(
            f"no ConfigMap {CHECKS_CONFIGMAP} in namespace {namespace}: nothing mounts a "
            "recheck request",
            hint="is mirror-agent deployed there? (-n NAMESPACE)",
        ) from None
    current = ((checks.get("data") or {}).get(RECHECK_KEY)) or ""
    request = RecheckRequest(node or RECHECK_ALL, secrets.token_hex(6), now)
    text = recheck_text(
        recheck_requests(current), request.target, request.request_id, request.requested_at
    )
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CHECKS_CONFIGMAP, "namespace": namespace},
        "data": {RECHECK_KEY: text},
    }
    client.apply(path, body, field_manager=RECHECK_FIELD_MANAGER, force=True)
    return request
