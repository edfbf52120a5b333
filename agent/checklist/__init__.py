"""``agent checklist``: the disconnected-update checklist, before and after
``oc adm upgrade --to-image``.

Layout: pure item logic over fetched objects (``items``, one module per item and the one
ordered registry of them; ``mirrors`` — the Machine Config Operator's rendering of
ICSP/IDMS/ITMS —, ``target``, ``version``, ``snapshot``, ``model``, ``wait``); the reads and
the one write go through ``fetch`` only; ``run`` puts them together. The renderers are in
``agent/output/checklist.py``.
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
