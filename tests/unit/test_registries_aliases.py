"""Alias values as containers/image holds them: ``parseShortNameValue`` normalises a value
(``docker.io/fedora`` → ``docker.io/library/fedora``), so the effective configuration that
``agent config`` shows and the fingerprint use the normalised value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent import registries
from agent.output.registries import config_json as render_config

MAIN = "etc/containers/registries.conf"


def host(tmp_path: Path, text: str, drop_in: str = "") -> Path:
    root = tmp_path / "host"
    (root / "etc/containers/registries.conf.d").mkdir(parents=True)
    (root / MAIN).write_text(text)
    if drop_in:
        (root / "etc/containers/registries.conf.d/50-aliases.conf").write_text(drop_in)
    return root


def config_json(root: Path) -> dict[str, Any]:
    """What ``agent config -o json`` prints for this node root."""
    document = render_config(registries.load(root).config)
    assert json.loads(json.dumps(document)) == document  # as printed
    return document


@pytest.mark.parametrize(
    ("value", "held"),
    [
        ("docker.io/fedora", "docker.io/library/fedora"),
        ("index.docker.io/fedora", "docker.io/library/fedora"),  # the legacy Hub host
        ("docker.io/library/fedora", "docker.io/library/fedora"),
        ("docker.io/someone/tool", "docker.io/someone/tool"),
        ("quay.io/fedora/fedora", "quay.io/fedora/fedora"),
        ("localhost/app", "localhost/app"),
        ("registry.example.com:5000/app", "registry.example.com:5000/app"),
    ],
)
def test_agent_config_shows_the_normalised_alias(tmp_path: Path, value: str, held: str) -> None:
    document = config_json(host(tmp_path, f'[aliases]\n"fedora" = "{value}"\n'))
    assert document["effective"]["aliases"] == {"fedora": held}


def test_identical_resolution_gives_identical_fingerprints(tmp_path: Path) -> None:
    raw = registries.load(host(tmp_path / "a", '[aliases]\n"fedora" = "docker.io/fedora"\n'))
    full = registries.load(
        host(tmp_path / "b", '[aliases]\n"fedora" = "docker.io/library/fedora"\n')
    )
    assert raw.config.fingerprint == full.config.fingerprint
    # Both resolve the short name to the same candidate.
    assert [c.reference for c in raw.explain("fedora").candidates] == [
        c.reference for c in full.explain("fedora").candidates
    ]
    other = registries.load(host(tmp_path / "c", '[aliases]\n"fedora" = "quay.io/fedora"\n'))
    assert other.config.fingerprint != raw.config.fingerprint


def test_a_drop_in_overrides_and_an_empty_value_still_erases(tmp_path: Path) -> None:
    loaded = registries.load(
        host(
            tmp_path,
            '[aliases]\n"fedora" = "docker.io/fedora"\n"busybox" = "docker.io/busybox"\n',
            drop_in='[aliases]\n"fedora" = "index.docker.io/library/fedora"\n"busybox" = ""\n',
        )
    )
    assert [(name, alias.value) for name, alias in loaded.config.aliases] == [
        ("fedora", "docker.io/library/fedora")
    ]
    (candidate,) = loaded.explain("fedora:40").candidates
    assert candidate.reference == "docker.io/library/fedora:40"
    assert candidate.origin_file is not None and candidate.origin_file.endswith("50-aliases.conf")
