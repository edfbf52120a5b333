"""``agent checklist``: the disconnected-update checklist, before and after
``oc adm upgrade --to-image``.

Layout: pure item logic over fetched objects (``items``, ``mirrors`` — the Machine Config
Operator's rendering of ICSP/IDMS/ITMS —, ``target``, ``snapshot``, ``model``, ``wait``,
``render``); the reads and the one write go through ``fetch`` only; ``run`` puts them
together.
"""

from __future__ import annotations

from agent.checklist.model import Checklist, Item, Permission, Unavailable
from agent.checklist.run import (
    PostUpgradeOptions,
    PreUpgradeOptions,
    cleanup,
    post_upgrade,
    pre_upgrade,
)

__all__ = [
    "Checklist",
    "Item",
    "Permission",
    "PostUpgradeOptions",
    "PreUpgradeOptions",
    "Unavailable",
    "cleanup",
    "post_upgrade",
    "pre_upgrade",
]
