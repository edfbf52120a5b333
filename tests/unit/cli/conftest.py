"""A host root for the command line's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli import CONF


@pytest.fixture
def host(tmp_path: Path) -> Path:
    conf = tmp_path / "host" / "etc" / "containers" / "registries.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(CONF)
    return tmp_path / "host"
