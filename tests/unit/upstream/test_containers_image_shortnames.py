"""containers/image's tests of short-name aliases, ported to the agent's registries.conf
engine (alias validation and normalisation when a file is read, alias resolution in
``agent explain``) with the behaviour of containers/image 5.23.

Upstream: containers/image ``pkg/sysregistriesv2/shortnames_test.go`` at v5.23.1
(a3bfb8695c8e2a6ce73cb5957c646d2243299151), written anew from reading it, with its
testdata/ files rewritten for this port (tests/unit/upstream/conf_files.py).

Not ported: ``AddShortNameAlias``/``RemoveShortNameAlias`` (the agent never writes the
machine-written alias cache; it reads it, so the cache's content after those calls is
written here directly), and the ``Nonempty`` method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest

from agent import registries
from agent.errors import ConfigError
from agent.output.registries import config_json as render_config
from tests.unit.upstream.conf_files import ALIASES, DROP_IN_DIR, V5_23, decode, load, node_root

SHA = "sha256:b87dd5f837112a9e1e9882963a6406387597698268c0ad371b187151a5dfe6bf"


def config_json(root: Path) -> dict[str, Any]:
    """What ``agent config -o json`` prints for this node root (containers/image 5.23)."""
    return render_config(registries.load(root, compat=V5_23).config)


# --- TestParseShortNameValue ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "docker.io/library/fedora",
        "localhost/fedora",
        "localhost:5000/fedora",
        "localhost:5000/namespace/fedora",
    ],
)
def test_valid_alias_values_are_held_as_written(tmp_path: Path, value: str) -> None:
    root = node_root(tmp_path, f'[aliases]\n"fedora" = "{value}"\n')
    assert config_json(root)["effective"]["aliases"] == {"fedora": value}


def test_docker_hub_alias_values_are_normalised(tmp_path: Path) -> None:
    root = node_root(tmp_path, '[aliases]\n"fedora" = "docker.io/fedora"\n')
    assert config_json(root)["effective"]["aliases"] == {"fedora": "docker.io/library/fedora"}


@pytest.mark.parametrize(
    "value",
    [
        "docker.io/library/fedora:latest",  # a tag
        f"docker.io/library/fedora@{SHA}",  # a digest
        "fedora",  # a short name
        "fedora:latest",
        "library/fedora",  # no registry
        "library/fedora:latest",
        "$$4455%%",
        "docker://foo",  # transports are not references
        "docker-archive://foo",
    ],
)
def test_invalid_alias_values(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        decode(f'[aliases]\n"fedora" = "{value}"\n')
    assert caught.value.kind == "invalid-alias" and value in caught.value.message


def test_an_empty_alias_value_in_a_file_erases_instead_of_failing() -> None:
    # parseShortNameValue("") fails; in a file an empty value resets an earlier alias.
    assert decode('[aliases]\n"fedora" = ""\n').aliases == ()


# --- TestValidateShortName ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("library/fedora", True),
        ("fedora", True),
        ("1234567489", True),
        ("docker.io/library/fedora:latest", False),
        (f"docker.io/library/fedora@{SHA}", False),
        ("fedora:latest", False),
        ("library/fedora:latest", False),
        ("$$4455%%", False),
        ("docker://foo", False),
        ("docker-archive://foo", False),
        ("", False),
    ],
)
def test_alias_names_must_be_short_names(name: str, valid: bool) -> None:
    text = f'[aliases]\n"{name}" = "example.com/image"\n'
    if valid:
        assert [alias for alias, _ in decode(text).aliases] == [name]
    else:
        with pytest.raises(ConfigError) as caught:
            decode(text)
        assert caught.value.kind == "invalid-alias"


# --- TestResolveShortNameAlias --------------------------------------------------------------


def alias_of(loaded: Any, name: str) -> Optional[tuple[str, Optional[str]]]:
    """(reference, file) when the short name resolves through an alias, else None."""
    explanation = loaded.explain(name)
    for candidate in explanation.candidates:
        if candidate.origin == "alias":
            return candidate.reference, candidate.origin_file
    return None


def test_resolve_aliases(tmp_path: Path) -> None:
    loaded = load(tmp_path, ALIASES)
    main_file = str(tmp_path / "root/etc/containers/registries.conf")
    assert len(loaded.config.aliases) == 3  # the empty one resolves nothing
    for name, value in [
        ("docker", "docker.io/library/foo"),
        ("quay/foo", "quay.io/library/foo"),
        ("example", "example.com/library/foo"),
    ]:
        assert alias_of(loaded, name) == (f"{value}:latest", main_file)
    assert alias_of(loaded, "idonotexist") is None
    assert alias_of(loaded, "empty") is None


# --- TestAliasesWithDropInConfigs -----------------------------------------------------------

# The machine-written cache after AddShortNameAlias of added1, added2 and added3.
CACHE = """[aliases]
added1 = "aliases.conf/added1"
added2 = "aliases.conf/added2"
added3 = "aliases.conf/added3"
"""


def test_aliases_with_drop_ins_and_the_cache(tmp_path: Path) -> None:
    loaded = load(tmp_path / "with-cache", ALIASES, DROP_IN_DIR, cache=CACHE)
    drop_ins = tmp_path / "with-cache/root/etc/containers/registries.conf.d"
    main_file = str(tmp_path / "with-cache/root/etc/containers/registries.conf")
    expected = {
        "docker": ("docker.io/library/config1", str(drop_ins / "config-1.conf")),
        "quay/foo": ("quay.io/library/foo", main_file),
        "config1": ("config1.com/image", str(drop_ins / "config-1.conf")),
        "barz": ("barz.com/config2", str(drop_ins / "config-2.conf")),  # config-2 wins
        "config2": ("config2.com/image", str(drop_ins / "config-2.conf")),
        "added1": ("aliases.conf/added1", "short-name-aliases.conf"),
        "added2": ("aliases.conf/added2", "short-name-aliases.conf"),
        "added3": ("aliases.conf/added3", "short-name-aliases.conf"),  # the cache wins
    }
    for name, (value, origin) in expected.items():
        assert alias_of(loaded, name) == (f"{value}:latest", origin), name
    assert alias_of(loaded, "i/do/no/exist") is None
    assert alias_of(loaded, "empty") is None
    assert alias_of(loaded, "example") is None  # erased by config-2
    assert loaded.config.short_name_mode == "permissive"  # config-2 over the main file

    # Without the cache entries, added1/added2 are gone and added3 is config-2's again.
    emptied = load(tmp_path / "emptied", ALIASES, DROP_IN_DIR, cache="[aliases]\n")
    assert alias_of(emptied, "added1") is None and alias_of(emptied, "added2") is None
    config_2 = str(tmp_path / "emptied/root/etc/containers/registries.conf.d/config-2.conf")
    assert alias_of(emptied, "added3") == ("xxx.com/image:latest", config_2)


# --- TestInvalidAliases ---------------------------------------------------------------------


def test_invalid_aliases_in_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[aliases]\nimage1 = "quay.io/repo/image:1"\nimage2 = "image:1"\n')
    assert caught.value.kind == "invalid-alias"
