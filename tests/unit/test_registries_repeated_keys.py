"""Repeated TOML keys: what BurntSushi/toml <= v1.5.0 (every containers/image so far) loads.

A key assigned again in the same table loads, the last value winning, when the new value or
the previous one is an array; two non-array values in a row are refused (the rule in
``agent/registries/repeated.py``; checked against podman 4.3.1 in the conformance cases).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import registries
from agent.errors import ConfigError
from agent.output.registries import config_json, config_table
from agent.registries import decode
from agent.registries.model import CURRENT, RepeatedKey
from agent.registries.repeated import keep_last_repeated_arrays

MAIN = "etc/containers/registries.conf"


def _decode(text: str) -> decode.FileConfig:
    return decode.decode_file(text, "registries.conf", drop_in=False, compat=CURRENT)


def _refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _decode(text)
    return caught.value


def test_repeated_search_registries_load_and_the_last_wins() -> None:
    decoded = _decode(
        'unqualified-search-registries = ["quay.io"]\n'
        'unqualified-search-registries = ["example.com"]\n'
    )
    assert decoded.unqualified_search_registries == ("example.com",)
    assert decoded.repeated_keys == (RepeatedKey("unqualified-search-registries", 2, 1),)


@pytest.mark.parametrize(
    ("text", "helpers"),
    [
        ('credential-helpers = "x"\ncredential-helpers = []\n', ()),  # scalar, then array
        ('credential-helpers = []\ncredential-helpers = ["a", "b"]\n', ("a", "b")),
        # the array may span lines, hold comments and brackets in strings
        (
            'credential-helpers = [\n  "]", # not the end ]\n  "x",\n]\ncredential-helpers = []\n',
            (),
        ),
        ("credential-helpers = ['''a''']\ncredential-helpers = [\"\"\"b\n\"\"\"]\n", ("b\n",)),
    ],
)
def test_either_value_being_an_array_is_enough(text: str, helpers: tuple[str, ...]) -> None:
    assert _decode(text).credential_helpers == helpers


def test_an_array_of_inline_tables_may_be_replaced_by_a_plain_array() -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\nmirror = [{location = "m.example.net"}]\n'
        "mirror = []\n"
    )
    assert _decode(text).registries[0].mirrors == ()


def test_an_array_then_a_scalar_loads_and_the_scalar_is_then_decoded() -> None:
    # The file loads (the earlier value was an array); the scalar is then the wrong type.
    error = _refused('credential-helpers = ["a"]\ncredential-helpers = "x"\n')
    assert error.kind == "toml-type"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('short-name-mode = "enforcing"\nshort-name-mode = "disabled"\n', 2),
        ('[[registry]]\nlocation = "a.example.com"\nlocation = "b.example.com"\n', 3),
        # the array only excuses the repetition right after it
        ("x = [1]\nx = 2\nx = 3\n", 3),
        # inline tables are not arrays
        ("x = {a = 1}\nx = {b = 2}\n", 2),
        # an array of inline tables cannot be added to a key that already has a value
        ('mirror = [{location = "a"}]\nmirror = [{location = "b"}]\n', 2),
        ("x = []\nx = [[1], [{a = 1}]]\n", 2),
    ],
)
def test_repeated_non_array_values_are_still_refused(text: str, line: int) -> None:
    error = _refused(text)
    assert (error.kind, error.line) == ("toml-syntax", line)


def test_keys_in_different_tables_are_not_repeats() -> None:
    text = (
        '[[registry]]\nlocation = "a.example.com"\n'
        '[[registry.mirror]]\nlocation = "m.example.net"\n'
        '[[registry.mirror]]\nlocation = "n.example.net"\n'
        '[[registry]]\nlocation = "b.example.com"\n'
    )
    assert _decode(text).repeated_keys == ()


def test_repeats_inside_array_tables_are_named_by_their_element() -> None:
    text = (
        '[[registry]]\nlocation = "a.example.com"\n'
        '[[registry]]\nlocation = "b.example.com"\n'
        '[[registry.mirror]]\nlocation = "m.example.net"\ninsecure = [true]\ninsecure = true\n'
        '[aliases]\n"x" = ["a"]\n"x" = "r.example.com/x"\n'
    )
    decoded = _decode(text)
    assert [(key.key, key.line) for key in decoded.repeated_keys] == [
        ("registry[1].mirror[0].insecure", 8),
        ("aliases.x", 11),
    ]
    assert decoded.registries[1].mirrors[0].insecure is True
    assert decoded.aliases == (("x", "r.example.com/x"),)


def test_dotted_and_quoted_keys_are_the_same_key() -> None:
    text = '[registries.search]\nregistries = ["a.example.com"]\n"registries" = ["b.example.com"]\n'
    assert _decode(text).unqualified_search_registries == ("b.example.com",)


def test_positions_of_later_errors_are_unchanged() -> None:
    text = 'x = [\n1,\n2]\nx = []\n[[registry]]\nlocation = "a.b"\nlocation = "c.d"\n'
    error = _refused(text)
    assert (error.kind, error.line, error.column) == ("toml-syntax", 7, 17)


def test_a_number_out_of_range_in_the_dropped_value_is_still_an_error() -> None:
    error = _refused("x = [99999999999999999999]\nx = [1]\n")
    assert "out of range for int64" in error.message
    assert error.line == 1


@pytest.mark.parametrize(
    "text",
    [
        "a = [1\na = [2]\n",  # not TOML at all
        'a = "unterminated\na = [1]\n',
        "[[t]\na = [1]\na = [2]\n",
        "= [1]\n",
        "a = [1] b\na = [2]\n",
    ],
)
def test_text_the_scanner_cannot_follow_is_left_to_tomllib(text: str) -> None:
    assert keep_last_repeated_arrays(text).text == text
    assert _refused(text).kind == "toml-syntax"


def test_agent_config_warns_about_the_repeated_key(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / MAIN).parent.mkdir(parents=True)
    (root / MAIN).write_text(
        'unqualified-search-registries = ["quay.io"]\n'
        'unqualified-search-registries = ["example.com"]\n'
    )
    config = registries.load(root).config
    assert config.unqualified_search_registries == ("example.com",)
    path = str(root / MAIN)
    assert config_json(config)["repeatedKeys"] == [
        {"file": path, "key": "unqualified-search-registries", "line": 2, "earlierLine": 1}
    ]
    assert (
        f"warning: {path}:2: key 'unqualified-search-registries' is set again (first at line 1)"
        in config_table(config)
    )


def test_a_table_header_after_a_key_of_its_name_loads_as_the_go_decoder_does() -> None:
    from agent.registries.toml_go import parse_toml

    document, repeats = parse_toml('aliases = ["x"]\n[aliases]\n"tool" = "a.example/t"\n', "f")
    assert document == {"aliases": {"tool": "a.example/t"}}  # the table replaces the array
    assert [(r.key, r.line, r.earlier_line) for r in repeats] == [("aliases", 2, 1)]
    document, repeats = parse_toml(
        'aliases.tool = "a.example/t"\n[[registry]]\nlocation = "q.io"\n[aliases]\napp = "a/b"\n',
        "f",
    )
    assert document["aliases"] == {"tool": "a.example/t", "app": "a/b"}  # both kept
    assert document["registry"] == [{"location": "q.io"}] and repeats == ()
