"""Edge cases where the engine must agree with containers/image and BurntSushi/toml exactly.

Each case was checked against skopeo 1.9.3 (containers/image 5.23.1) by differential
testing; release-dependent ones are tested on both sides of the release that changed them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import registries
from agent.errors import ConfigError
from agent.registries.decode import _Decoder, decode_alias_cache
from agent.registries.model import LEGACY_PODMAN_4_3, Compat
from agent.registries.toml_go import parse_toml
from tests.unit.test_registries import DROP_INS, MAIN, host, load, load_error, sources

BLOCK = '[[registry]]\nlocation = "r.example.com"\nblocked = true\n'
HELPER = "additional-layer-store-auth-helper"


# --- 1. additional-layer-store-auth-helper exists from containers/image 5.32.0 ------------


@pytest.mark.parametrize("compat", [LEGACY_PODMAN_4_3, Compat((5, 24)), Compat((5, 31))])
def test_layer_helper_is_an_unknown_key_before_5_32(tmp_path: Path, compat: Compat) -> None:
    loaded = load(tmp_path, {MAIN: f"{HELPER} = 1\n" + BLOCK}, compat=compat)
    assert loaded.config.additional_layer_store_auth_helper == ""
    assert loaded.config.ignored_keys == ((str(tmp_path / "host" / MAIN), HELPER),)
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1 [blocked]"]


@pytest.mark.parametrize("compat", [Compat((5, 32)), registries.CURRENT])
def test_layer_helper_is_a_typed_field_from_5_32(tmp_path: Path, compat: Compat) -> None:
    error = load_error(tmp_path, {MAIN: f"{HELPER} = 1\n"}, compat=compat)
    assert error.kind == "toml-type"
    assert error.message.startswith(HELPER + ":")
    loaded = load(tmp_path, {MAIN: f'{HELPER} = "helper"\n'}, compat=compat)
    assert loaded.config.additional_layer_store_auth_helper == "helper"
    assert loaded.config.ignored_keys == ()


def test_layer_helper_makes_a_v1_file_mixed_only_from_5_32(tmp_path: Path) -> None:
    text = f'{HELPER} = "helper"\n[registries.block]\nregistries = ["r.example.com"]\n'
    for compat in (LEGACY_PODMAN_4_3, Compat((5, 31))):
        loaded = load(tmp_path, {MAIN: text}, compat=compat)
        assert [(e.prefix, e.blocked) for e in loaded.config.registries] == [
            ("r.example.com", True)
        ]
    for compat in (Compat((5, 32)), registries.CURRENT):
        assert load_error(tmp_path, {MAIN: text}, compat=compat).kind == "mixing-v1-v2"
    # An empty helper is not "set" (Nonempty ignores zero values) in any release.
    empty = f'{HELPER} = ""\n[registries.block]\nregistries = ["r.example.com"]\n'
    assert len(load(tmp_path, {MAIN: empty}).config.registries) == 1


# --- 2. a drop-in that cannot be found when opened ------------------------------------------


def _dangling(tmp_path: Path) -> Path:
    root = host(tmp_path, {MAIN: "", f"{DROP_INS}/20-ok.conf": BLOCK})
    (root / DROP_INS / "10-gone.conf").symlink_to("missing.conf")
    return root


@pytest.mark.parametrize("compat", [LEGACY_PODMAN_4_3, Compat((5, 24)), Compat((5, 33))])
def test_dangling_drop_in_is_an_error_before_5_34(tmp_path: Path, compat: Compat) -> None:
    root = _dangling(tmp_path)
    with pytest.raises(ConfigError) as caught:
        registries.load(root, compat=compat)
    assert caught.value.kind == "file-not-found"
    assert caught.value.file == str(root / DROP_INS / "10-gone.conf")
    assert str(caught.value).startswith(str(root / DROP_INS / "10-gone.conf") + ": ")


@pytest.mark.parametrize("compat", [Compat((5, 34)), registries.CURRENT])
def test_dangling_drop_in_is_skipped_from_5_34(tmp_path: Path, compat: Compat) -> None:
    root = _dangling(tmp_path)
    loaded = registries.load(root, compat=compat)
    assert [Path(f).name for f in loaded.config.files] == ["registries.conf", "20-ok.conf"]
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1 [blocked]"]


@pytest.mark.parametrize("compat", [LEGACY_PODMAN_4_3, registries.CURRENT])
def test_drop_in_that_exists_but_cannot_be_read_is_an_error_in_every_release(
    tmp_path: Path, compat: Compat
) -> None:
    root = host(tmp_path, {MAIN: "", "etc/containers/sub/x": ""})
    (root / DROP_INS).mkdir()
    (root / DROP_INS / "20-dir.conf").symlink_to("../sub")  # a directory named *.conf
    with pytest.raises(ConfigError) as caught:
        registries.load(root, compat=compat)
    assert caught.value.kind == "file-unreadable"
    assert caught.value.file == str(root / DROP_INS / "20-dir.conf")


# --- 3. which conflict is reported ------------------------------------------------------------


def test_conflict_reported_is_the_first_entry_whose_group_disagrees(tmp_path: Path) -> None:
    # b.com's group disagrees first *pairwise*, but a.com's first entry comes first in the
    # file, and upstream reports the first entry that has any conflict.
    text = (
        '[[registry]]\nlocation = "a.com"\n'  # line 1
        '[[registry]]\nlocation = "b.com"\n'
        '[[registry]]\nprefix = "b.com/x"\nlocation = "b.com"\nblocked = true\n'
        '[[registry]]\nprefix = "a.com/y"\nlocation = "a.com"\ninsecure = true\n'
    )
    error = load_error(tmp_path, {MAIN: text}, compat=LEGACY_PODMAN_4_3)
    assert error.kind == "conflicting-insecure"
    assert error.message.startswith("registry 'a.com' is defined several times")
    assert "a.com/y" in error.message  # the entry it conflicts with
    assert error.line == 1  # the reported entry has no insecure key: its table header


def test_conflict_kind_is_that_of_the_first_differing_entry_of_the_group(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nprefix = "a.com/x"\nlocation = "a.com"\n'
        '[[registry]]\nprefix = "*.b.com"\n'
        '[[registry]]\nprefix = "*.b.com"\ninsecure = true\n'
        '[[registry]]\nprefix = "a.com/y"\nlocation = "a.com"\nblocked = true\n'
        '[[registry]]\nprefix = "a.com/z"\nlocation = "a.com"\ninsecure = true\n'
    )
    error = load_error(tmp_path, {MAIN: text})
    assert error.kind == "conflicting-blocked"
    assert error.message.startswith("registry 'a.com' ")
    assert "a.com/y" in error.message


def test_conflict_line_is_the_reported_entrys_flag(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "other.com"\n\n'
        '[[registry]]\nlocation = "a.com"\n'  # line 4: reported, has no insecure key
        '[[registry]]\nprefix = "a.com/x"\nlocation = "a.com"\ninsecure = true\n'
    )
    error = load_error(tmp_path, {MAIN: text})
    assert (error.kind, error.line) == ("conflicting-insecure", 4)  # so its table header
    text = (
        '[[registry]]\nlocation = "a.com"\ninsecure = true\n\n'
        '[[registry]]\nprefix = "a.com/x"\nlocation = "a.com"\n'
    )
    assert load_error(tmp_path, {MAIN: text}).line == 3


def test_wildcard_conflict_names_the_prefix_and_podmans_empty_location(tmp_path: Path) -> None:
    text = '[[registry]]\nprefix = "*.a.b"\n[[registry]]\nprefix = "*.a.b"\ninsecure = true\n'
    error = load_error(tmp_path, {MAIN: text})
    assert error.kind == "conflicting-insecure"
    assert "'*.a.b'" in error.message
    assert "registry ''" in error.message  # what podman's own message says
    assert error.line == 1


# --- 4. invalid wildcard prefixes are checked in prefix order ----------------------------------


def test_first_invalid_wildcard_in_prefix_order_is_reported(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nprefix = "*.z.com/x"\n'
        '[[registry]]\nprefix = "*.m.com@x"\n'
        '[[registry]]\nprefix = "*.a.com:5000"\nlocation = "q.example.com"\n'
    )
    error = load_error(tmp_path, {MAIN: text})
    assert error.kind == "invalid-wildcard-prefix"
    assert "'*.a.com:5000'" in error.message
    assert error.line == 6  # its prefix line, though it is the last entry in the file


# --- 5. keys match with Go's strings.EqualFold -------------------------------------------------


@pytest.mark.parametrize("compat", [LEGACY_PODMAN_4_3, registries.CURRENT])
def test_long_s_and_kelvin_sign_fold_to_ascii_letters(tmp_path: Path, compat: Compat) -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\n"in\u017fecure" = true\n"bloc\u212aed" = true\n'
    )
    loaded = load(tmp_path, {MAIN: text}, compat=compat)
    (entry,) = loaded.config.registries
    assert (entry.insecure, entry.blocked) == (True, True)
    assert loaded.config.ignored_keys == ()


def test_folded_top_level_and_mirror_keys(tmp_path: Path) -> None:
    error = load_error(tmp_path, {MAIN: '"\u017fhort-name-mode" = "bogus"\n'})
    assert error.kind == "invalid-short-name-mode"
    text = (
        '[[registry]]\nlocation = "r.example.com"\n"mirror-by-dige\u017ft-only" = true\n'
        '[[registry.mirror]]\nlocation = "m.example.net"\n'
    )
    assert sources(load(tmp_path, {MAIN: text}), "r.example.com/app:1") == ["r.example.com/app:1"]


@pytest.mark.parametrize(
    "key",
    [
        "\u0131nsecure",  # dotless i: "\\u0131".upper() == "I", but it is not in i's fold orbit
        "\u0130nsecure",  # dotted capital I
        "INSECURE\u0301",  # a combining mark makes it longer
    ],
)
def test_other_non_ascii_letters_do_not_fold(tmp_path: Path, key: str) -> None:
    loaded = load(tmp_path, {MAIN: f'[[registry]]\nlocation = "r.example.com"\n"{key}" = true\n'})
    assert loaded.config.registries[0].insecure is False
    assert loaded.config.ignored_keys == ((str(tmp_path / "host" / MAIN), f"registry[0].{key}"),)


def test_full_case_folding_does_not_apply() -> None:
    decoder = _Decoder()
    # str.casefold would turn the sharp s into "ss"; Go's simple folding does not.
    assert decoder.fields({"cla\u00dfic": 1, "CLASSIC": 2}, ("classic",), "") == {"classic": 2}
    assert decoder.ignored == ["cla\u00dfic"]


def test_type_error_under_a_folded_key_names_its_line(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\n"\u0131nsecure" = 1\n"in\u017fecure" = "yes"\n'
    )
    error = load_error(tmp_path, {MAIN: text})
    assert (error.kind, error.line) == ("toml-type", 4)
    assert error.message.startswith("registry[0].insecure:")


# --- 6. the same field under two spellings --------------------------------------------------


def test_exact_key_is_kept_where_podmans_choice_is_random(tmp_path: Path) -> None:
    # podman decodes a Go map: either value may win, run to run. The engine keeps the
    # exact-case key; with only folded spellings, the last one in the file.
    text = '[[registry]]\nprefix = "p.example.com"\nLOCATION = "a.b"\nLocation = "c.d"\n'
    assert load(tmp_path, {MAIN: text}).config.registries[0].location == "c.d"
    text = '[[registry]]\nprefix = "p.example.com"\nLocation = "a.b"\nlocation = "c.d"\n'
    assert load(tmp_path, {MAIN: text}).config.registries[0].location == "c.d"


# --- 7. numbers outside Go's int64 / float64 --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "literal", "size", "line", "column"),
    [
        ("n = 99999999999999999999\n" + BLOCK, "99999999999999999999", "int64", 1, 5),
        ("n = 9223372036854775808\n", "9223372036854775808", "int64", 1, 5),
        ("n = +9_223_372_036_854_775_808\n", "+9_223_372_036_854_775_808", "int64", 1, 5),
        ("n = -9223372036854775809\n", "-9223372036854775809", "int64", 1, 5),
        ("n = 0xFFFF_ffff_FFFF_FFFF\n", "0xFFFF_ffff_FFFF_FFFF", "int64", 1, 5),
        ("n = 0o1777777777777777777777\n", "0o1777777777777777777777", "int64", 1, 5),
        ("n = 0b" + "1" * 64 + "\n", "0b" + "1" * 64, "int64", 1, 5),
        (BLOCK + "x = [1,\n  2, 99999999999999999999]\n", "99999999999999999999", "int64", 5, 6),
        ("n = 1e400\n" + BLOCK, "1e400", "float64", 1, 5),
        ("[x]\ny = {z = -1_0e4_00}\n", "-1_0e4_00", "float64", 2, 10),
        # Two faults: the first written is reported (Go stops there).
        ("a = [\n 1e999,\n 99999999999999999999,\n]\n", "1e999", "float64", 2, 2),
        ("a = [\n 99999999999999999999,\n 1e999,\n]\n", "99999999999999999999", "int64", 2, 2),
        # Before a syntax error: Go parses in order, so the number is what it reports.
        ("n = 1e400\n" + BLOCK + "bad =\n", "1e400", "float64", 1, 5),
        ("n = 99999999999999999999\n" + BLOCK + "bad =\n", "99999999999999999999", "int64", 1, 5),
    ],
    ids=[
        "decimal",
        "int64-max-plus-1",
        "plus-sign-underscores",
        "int64-min-minus-1",
        "hex",
        "octal",
        "binary",
        "in-array-unknown-key",
        "float",
        "float-in-inline-table",
        "float-first",
        "int-first",
        "float-before-syntax-error",
        "int-before-syntax-error",
    ],
)
def test_numbers_out_of_go_range_are_syntax_errors(
    tmp_path: Path, text: str, literal: str, size: str, line: int, column: int
) -> None:
    for where in (MAIN, f"{DROP_INS}/1.conf"):
        files = {MAIN: text} if where == MAIN else {MAIN: "", where: text}
        error = load_error(tmp_path / where.replace("/", "_"), files)
        assert error.kind == "toml-syntax"
        assert error.message == f"invalid TOML: {literal} is out of range for {size}"
        assert error.file == str(tmp_path / where.replace("/", "_") / "host" / where)
        assert (error.line, error.column) == (line, column)


def test_syntax_error_before_a_number_out_of_range_is_reported_first(tmp_path: Path) -> None:
    error = load_error(tmp_path, {MAIN: "bad =\nn = 99999999999999999999\nm = 1e400\n"})
    assert error.kind == "toml-syntax"
    assert error.line == 1
    assert "out of range" not in error.message


@pytest.mark.parametrize(
    "value",
    [
        "9223372036854775807",
        "-9223372036854775808",
        "0x7FFF_FFFF_FFFF_FFFF",
        "0o777777777777777777777",
        "1.7976931348623157e308",
        "1e-400",  # underflows to 0 without error in Go
        "inf",
        "+inf",
        "-inf",
        "nan",
        '"99999999999999999999"',
    ],
)
def test_numbers_go_accepts_are_accepted(tmp_path: Path, value: str) -> None:
    loaded = load(tmp_path, {MAIN: f"n = {value}\n# 1e400 99999999999999999999\n" + BLOCK})
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1 [blocked]"]


def test_out_of_range_line_skips_the_same_digits_in_strings_and_keys() -> None:
    text = 'k = "x99999999999999999999"\n99999999999999999999 = 1\nn = 99999999999999999999\n'
    with pytest.raises(ConfigError) as caught:
        parse_toml(text, "f.conf")
    assert (caught.value.line, caught.value.column) == (3, 5)


def test_alias_cache_rejects_numbers_out_of_range_too() -> None:
    with pytest.raises(ConfigError) as caught:
        decode_alias_cache('[aliases]\n"a" = "r.example.com/a"\nn = 1e400\n', "cache.conf")
    assert (caught.value.kind, caught.value.file, caught.value.line) == (
        "toml-syntax",
        "cache.conf",
        3,
    )
