"""The command line (agent.cli), run in-process through ``main``."""

from __future__ import annotations

import pytest

from agent.cli.app import main

DIGEST = "sha256:" + "ab" * 32
CONF = """\
unqualified-search-registries = ["registry.example.com"]

[[registry]]
location = "registry.example.com/team"
mirror-by-digest-only = true

[[registry.mirror]]
location = "mirror.example.net/team"

[[registry.mirror]]
location = "backup.example.net:8443/team"
insecure = true

[[registry]]
location = "blocked.example.com"
blocked = true
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
