"""agent checklist's options."""

from __future__ import annotations

from typing import Any

from tests.unit.cli import DIGEST, run


def test_checklist_refuses_a_zero_poll(capsys: Any) -> None:
    """--poll 0 would list the report ConfigMaps in a busy loop for the whole --wait."""
    code, _, err = run(
        capsys,
        "checklist",
        "pre-upgrade",
        "--to-image",
        f"quay.io/openshift-release-dev/ocp-release@{DIGEST}",
        "--poll",
        "0",
    )
    assert code == 2
    assert "--poll" in err
