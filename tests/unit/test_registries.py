"""The registries.conf engine, rule by rule (docs/registries-conf.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from agent import registries
from agent.errors import ConfigError
from agent.node.paths import HostRoot
from agent.output.registries import explain_table, explanation_json
from agent.output.text import short_digest
from agent.registries.model import LEGACY_PODMAN_4_3, Compat, compat_for_podman
from agent.registries.resolve import match_length

DIGEST = "sha256:" + "a4f58c9cded6b5a37ae52f59cec27d48b1ff5479705847054472a9a35e668e00"
MAIN = "etc/containers/registries.conf"
DROP_INS = "etc/containers/registries.conf.d"


def host(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "host"
    root.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def load(
    tmp_path: Path, files: dict[str, str], compat: Compat = registries.CURRENT, **kwargs: object
) -> registries.LoadedHost:
    return registries.load(host(tmp_path, files), compat=compat, **kwargs)  # type: ignore[arg-type]


def sources(loaded: registries.LoadedHost, ref: str) -> list[str]:
    explanation = loaded.explain(ref)
    assert explanation.problem is None, explanation.problem
    return [
        source.location
        + (" [insecure]" if source.insecure else "")
        + (" [blocked]" if source.blocked else "")
        for source in explanation.pull_sources
    ]


def load_error(tmp_path: Path, files: dict[str, str], **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, files, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- §1 where the configuration comes from ---------------------------------------------


def test_missing_default_main_file_is_an_empty_configuration(tmp_path: Path) -> None:
    loaded = load(tmp_path, {})
    assert loaded.config.files == ()
    assert sources(loaded, "registry.example.com/app:1") == ["registry.example.com/app:1"]


def test_explicit_main_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, {}, main_override=tmp_path / "nope.conf")
    assert error.kind == "file-not-found"
    assert error.file == str(tmp_path / "nope.conf")


def test_explicit_main_file_replaces_the_main_file_but_drop_ins_are_still_read(
    tmp_path: Path,
) -> None:
    custom = tmp_path / "custom.conf"
    custom.write_text('[[registry]]\nlocation = "r.example.com"\nblocked = true\n')
    loaded = load(
        tmp_path,
        {
            MAIN: '[[registry]]\nlocation = "r.example.com"\ninsecure = true\n',
            f"{DROP_INS}/50-a.conf": 'unqualified-search-registries = ["q.example.com"]\n',
        },
        main_override=custom,
    )
    assert loaded.config.files[0] == str(custom)
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1 [blocked]"]
    assert loaded.config.unqualified_search_registries == ("q.example.com",)


def test_per_user_file_hides_system_file_and_system_drop_ins(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: '[[registry]]\nlocation = "r.example.com"\nblocked = true\n',
            f"{DROP_INS}/50-a.conf": '[[registry]]\nlocation = "q.example.com"\nblocked = true\n',
            "root/.config/containers/registries.conf": "",
            "root/.config/containers/registries.conf.d/10-u.conf": (
                '[[registry]]\nlocation = "u.example.com"\ninsecure = true\n'
            ),
        },
    )
    root = tmp_path / "host"
    assert loaded.config.files == (
        str(root / "root/.config/containers/registries.conf"),
        str(root / "root/.config/containers/registries.conf.d/10-u.conf"),
    )
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1"]


def test_drop_ins_load_in_byte_order_system_before_user(tmp_path: Path) -> None:
    entry = '[[registry]]\nlocation = "r.example.com"\n[[registry.mirror]]\nlocation = "{}"\n'
    loaded = load(
        tmp_path,
        {
            f"{DROP_INS}/9-b.conf": entry.format("m.example.net/nine"),
            f"{DROP_INS}/10-a.conf": entry.format("m.example.net/ten"),
            f"{DROP_INS}/A.conf": entry.format("m.example.net/upper"),
            f"{DROP_INS}/a.conf": entry.format("m.example.net/lower"),
            f"{DROP_INS}/notes.txt": "not toml at all [",
            f"{DROP_INS}/sub/zz.conf": entry.format("m.example.net/subdir"),
            "root/.config/containers/registries.conf.d/0-user.conf": entry.format(
                "m.example.net/user"
            ),
        },
    )
    names = [Path(path).name for path in loaded.config.files]
    assert names == ["10-a.conf", "9-b.conf", "A.conf", "a.conf", "0-user.conf"]
    assert sources(loaded, "r.example.com/app:1")[0] == "m.example.net/user/app:1"


def test_symlinked_drop_in_is_followed_inside_the_host_root(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        {"usr/share/mirrors.conf": '[[registry]]\nlocation = "r.example.com"\nblocked = true\n'},
    )
    (root / DROP_INS).mkdir(parents=True)
    # Absolute on the node: it must resolve under the host root, not the agent's /usr.
    (root / DROP_INS / "50-link.conf").symlink_to("/usr/share/mirrors.conf")
    loaded = registries.load(root)
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1 [blocked]"]
    assert loaded.config.files == (str(root / DROP_INS / "50-link.conf"),)


def test_symlinked_main_file_resolves_inside_the_host_root(tmp_path: Path) -> None:
    root = host(tmp_path, {"ostree/registries.conf": 'unqualified-search-registries = ["a.b"]\n'})
    (root / "etc/containers").mkdir(parents=True)
    (root / MAIN).symlink_to("/ostree/registries.conf")
    assert registries.load(root).config.unqualified_search_registries == ("a.b",)
    assert HostRoot(root).resolve("/etc/containers/registries.conf") == (
        root / "ostree/registries.conf"
    )


def test_symlinked_drop_in_directory_is_not_read_like_go_walkdir(tmp_path: Path) -> None:
    root = host(tmp_path, {"elsewhere/50-x.conf": '[[registry]]\nlocation = "a.b"\n'})
    (root / "etc/containers").mkdir(parents=True)
    (root / DROP_INS).symlink_to(root / "elsewhere")
    assert registries.load(root).config.files == ()


def test_unreadable_main_file_is_a_clear_error(tmp_path: Path) -> None:
    root = host(tmp_path, {})
    (root / MAIN).mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(ConfigError) as caught:
        registries.load(root)
    assert caught.value.kind == "file-unreadable"
    assert caught.value.file == str(root / MAIN)


# --- §2 decoding ------------------------------------------------------------------------


def test_unknown_keys_are_ignored_and_reported(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: '[[registry]]\nlocation = "r.example.com"\nmirror_by_digest_only = true\n'
            '[[registry.mirror]]\nlocation = "m.example.net"\n'
        },
    )
    assert sources(loaded, "r.example.com/app:1") == [
        "m.example.net/app:1",
        "r.example.com/app:1",
    ]
    assert loaded.config.ignored_keys == (
        (str(tmp_path / "host" / MAIN), "registry[0].mirror_by_digest_only"),
    )


def test_keys_match_case_insensitively_with_exact_match_preferred(tmp_path: Path) -> None:
    # Which one podman keeps is random (Go map order); the engine keeps the exact key.
    loaded = load(
        tmp_path,
        {MAIN: '[[registry]]\nLocation = "wrong.example.com"\nlocation = "r.example.com"\n'},
    )
    assert loaded.config.registries[0].location == "r.example.com"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[[registry]]\nlocation = "r.example.com"\ninsecure = "true"\n', "registry[0].insecure"),
        ('[registry]\nlocation = "r.example.com"\n', "registry"),
        ("[[registry]]\nlocation = 5\n", "registry[0].location"),
        ('unqualified-search-registries = "a.b"\n', "unqualified-search-registries"),
        ("short-name-mode = true\n", "short-name-mode"),
        ('[[registry]]\nlocation = "a.b"\nmirror = "m.c"\n', "registry[0].mirror"),
        ("[aliases]\nx = 1\n", "aliases.x"),
        ('registries = ["a"]\n', "registries"),
    ],
)
def test_wrong_value_types_are_rejected(tmp_path: Path, text: str, where: str) -> None:
    error = load_error(tmp_path, {MAIN: text})
    assert error.kind == "toml-type"
    assert error.message.startswith(where + ":")
    assert error.file == str(tmp_path / "host" / MAIN)


def test_type_error_inside_an_entry_names_its_line(tmp_path: Path) -> None:
    text = '[[registry]]\nlocation = "a.b"\n\n[[registry]]\nlocation = "c.d"\nblocked = "yes"\n'
    error = load_error(tmp_path, {MAIN: text})
    assert (error.kind, error.line) == ("toml-type", 6)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('[[registry]]\nlocation = "r.example.com\n', 2, 26),  # where the line ends
        ('[[registry]]\nlocation = "a.b"\nlocation = "c.d"\n', 3, 17),  # duplicate key
    ],
)
def test_toml_syntax_errors_name_line_and_column(
    tmp_path: Path, text: str, line: int, column: int
) -> None:
    error = load_error(tmp_path, {MAIN: text})
    assert error.kind == "toml-syntax"
    assert (error.line, error.column) == (line, column)
    assert str(error).startswith(f"{tmp_path / 'host' / MAIN}:{line}:{column}: invalid TOML")


def test_non_utf8_file_is_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    root = host(tmp_path, {})
    (root / MAIN).parent.mkdir(parents=True)
    (root / MAIN).write_bytes(b'# ok\n# caf\xe9\n[[registry]]\nlocation = "a.b"\n')
    with pytest.raises(ConfigError) as caught:
        registries.load(root)
    assert (caught.value.kind, caught.value.line) == ("toml-syntax", 2)


# --- §3 v1 ------------------------------------------------------------------------------


def test_v1_block_insecure_and_search_are_converted(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: "[registries.search]\nregistries = ['s.example.com/']\n"
            "[registries.insecure]\nregistries = ['both.example.com', 'i.example.com']\n"
            "[registries.block]\nregistries = ['both.example.com/', 'b.example.com']\n"
        },
    )
    config = loaded.config
    flags = {e.prefix: (e.insecure, e.blocked) for e in config.registries}
    assert flags == {
        "b.example.com": (False, True),
        "both.example.com": (True, True),
        "i.example.com": (True, False),
    }
    assert config.unqualified_search_registries == ("s.example.com",)


def test_v1_uri_scheme_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, {MAIN: "[registries.block]\nregistries = ['https://b.c']\n"})
    assert error.kind == "uri-scheme"


@pytest.mark.parametrize("compat", [registries.CURRENT, LEGACY_PODMAN_4_3])
def test_v1_mixed_with_v2_is_rejected(tmp_path: Path, compat: Compat) -> None:
    text = "[registries.block]\nregistries = ['b.c']\n[[registry]]\nlocation = 'a.b'\n"
    assert load_error(tmp_path, {MAIN: text}, compat=compat).kind == "mixing-v1-v2"


def test_empty_v1_arrays_depend_on_the_release(tmp_path: Path) -> None:
    text = "[registries.search]\nregistries = []\n[[registry]]\nlocation = 'a.b'\n"
    assert load_error(tmp_path, {MAIN: text}).kind == "mixing-v1-v2"
    legacy = load(tmp_path, {MAIN: text}, compat=LEGACY_PODMAN_4_3)
    assert [e.prefix for e in legacy.config.registries] == ["a.b"]


def test_v1_in_a_drop_in_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, {f"{DROP_INS}/1.conf": "[registries.block]\nregistries=['x.y']\n"})
    assert error.kind == "v1-in-drop-in"
    assert error.file == str(tmp_path / "host" / DROP_INS / "1.conf")


# --- §4 validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "names"),
    [
        ('[[registry]]\nlocation = "http://r.example.com"\n', "uri-scheme", "http://"),
        ('[[registry]]\nprefix = "https://r.example.com"\nlocation="a.b"\n', "uri-scheme", ""),
        (
            '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\nlocation = "https://m.c"\n',
            "uri-scheme",
            "",
        ),
        ("[[registry]]\ninsecure = true\n", "location-and-prefix-missing", ""),
        ('[[registry]]\nprefix = "r.example.com/team"\n', "location-required", "team"),
        (
            '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\ninsecure = true\n',
            "mirror-location-missing",
            "'a.b'",
        ),
        (
            '[[registry]]\nlocation = "a.b"\npull-from-mirror = "all"\n',
            "pull-from-mirror-on-registry",
            "'a.b'",
        ),
        (
            '[[registry]]\nlocation = "a.b"\nmirror-by-digest-only = true\n'
            '[[registry.mirror]]\nlocation = "m.c"\npull-from-mirror = "all"\n',
            "pull-from-mirror-with-digest-only",
            "'m.c'",
        ),
        (
            '[[registry]]\nlocation = "a.b"\n'
            '[[registry.mirror]]\nlocation = "m.c"\npull-from-mirror = "Digest-Only"\n',
            "pull-from-mirror-invalid",
            "Digest-Only",
        ),
        (
            '[[registry]]\nprefix = "a.b/x"\nlocation = "a.b"\ninsecure = true\n'
            '[[registry]]\nprefix = "a.b/y"\nlocation = "a.b"\n',
            "conflicting-insecure",
            "a.b/y",
        ),
        (
            '[[registry]]\nprefix = "*.a.b"\nblocked = true\n[[registry]]\nprefix = "*.a.b"\n',
            "conflicting-blocked",
            "*.a.b",
        ),
        (
            'unqualified-search-registries = ["q.example.com/ns"]\n',
            "invalid-unqualified-search",
            "ns",
        ),
        ('unqualified-search-registries = ["q_x.com"]\n', "invalid-unqualified-search", "q_x"),
        ('short-name-mode = "strict"\n', "invalid-short-name-mode", "strict"),
        ('[[registry]]\nprefix = "*.a.b:5000"\n', "invalid-wildcard-prefix", "*.a.b:5000"),
        ('[aliases]\n"app" = "r.example.com/app:1"\n', "invalid-alias", "tag"),
        ('[aliases]\n"app" = "app2"\n', "invalid-alias", "registry host"),
        ('[aliases]\n"r.example.com/app" = "r.example.com/app"\n', "invalid-alias", "short name"),
        ('[aliases]\n"App" = "r.example.com/app"\n', "invalid-alias", "App"),
    ],
)
def test_validation_errors(tmp_path: Path, text: str, kind: str, names: str) -> None:
    error = load_error(tmp_path, {MAIN: text})
    assert error.kind == kind
    assert names in error.message
    assert error.file == str(tmp_path / "host" / MAIN)


def test_semantic_error_points_at_the_entry_line(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "ok.example.com"\n\n[[registry]]\nprefix = "bad.example.com/x"\n'
    )
    error = load_error(tmp_path, {MAIN: text})
    assert (error.kind, error.line) == ("location-required", 4)


def test_conflicts_are_checked_per_file_only(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: '[[registry]]\nprefix = "a.b/x"\nlocation = "a.b"\ninsecure = true\n',
            f"{DROP_INS}/1.conf": '[[registry]]\nprefix = "a.b/y"\nlocation = "a.b"\n',
        },
    )
    assert len(loaded.config.registries) == 2


def test_first_definition_of_a_prefix_wins_within_a_file(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: '[[registry]]\nlocation = "a.b/"\n[[registry.mirror]]\nlocation = "m.c/one"\n'
            '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\nlocation = "m.c/two"\n'
        },
    )
    assert sources(loaded, "a.b/app:1") == ["m.c/one/app:1", "a.b/app:1"]


def test_mirror_trailing_slash_depends_on_the_release(tmp_path: Path) -> None:
    text = '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\nlocation = "m.c/cache/"\n'
    assert sources(load(tmp_path, {MAIN: text}), "a.b/app:1") == ["m.c/cache/app:1", "a.b/app:1"]
    legacy = load(tmp_path, {MAIN: text}, compat=LEGACY_PODMAN_4_3).explain("a.b/app:1")
    assert legacy.problem is not None
    assert legacy.problem.kind == "rewrite-invalid-reference"
    assert "m.c/cache//app:1" in legacy.problem.message


def test_mirror_of_only_slashes_is_a_missing_location_in_every_release(tmp_path: Path) -> None:
    text = '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\nlocation = "/"\n'
    for compat in (registries.CURRENT, LEGACY_PODMAN_4_3):
        assert load_error(tmp_path, {MAIN: text}, compat=compat).kind == "mirror-location-missing"


# --- §5 merging -------------------------------------------------------------------------


def test_drop_in_replaces_whole_entry_and_merges_scalars(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: 'unqualified-search-registries = ["a.example.com"]\n'
            'short-name-mode = "enforcing"\n'
            'credential-helpers = ["x"]\n[aliases]\n"one" = "r.example.com/one"\n'
            '"two" = "r.example.com/two"\n'
            '[[registry]]\nlocation = "r.example.com"\ninsecure = true\n'
            '[[registry.mirror]]\nlocation = "m.example.net"\n',
            f"{DROP_INS}/1.conf": "unqualified-search-registries = []\ncredential-helpers = []\n"
            'short-name-mode = ""\n[aliases]\n"one" = ""\n"three" = "r.example.com/three"\n'
            '[[registry]]\nlocation = "r.example.com/"\n',
        },
    )
    config = loaded.config
    assert sources(loaded, "r.example.com/app:1") == ["r.example.com/app:1"]
    assert config.unqualified_search_registries == ()
    assert config.credential_helpers == ("containers-auth.json",)
    assert config.short_name_mode == "enforcing"
    assert [name for name, _ in config.aliases] == ["three", "two"]


# --- §6 matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix", "length"),
    [
        ("example.com/foo", "example.com/foo", 15),
        ("example.com/foo/bar", "example.com/foo", 15),
        ("example.com/foobar", "example.com/foo", -1),
        ("example.com:5000/x", "example.com", 11),  # upstream's known quirk
        ("example.com:50000/x", "example.com:5000", -1),
        ("Example.com/x", "example.com", -1),
        ("a.example.com/x", "*.example.com", 13),
        ("a.b.example.com:5000/x", "*.example.com", 15),
        ("example.com/x", "*.example.com", -1),
        ("a.example.com.example.com/x", "*.example.com", -1),
        ("mirror.net/a.example.com/x", "*.example.com", -1),
        ("example.com/app", "example.com/app:1", -1),
    ],
)
def test_prefix_matching(name: str, prefix: str, length: int) -> None:
    assert match_length(name, prefix) == length


def test_longest_prefix_wins_and_ties_go_to_the_smaller_prefix(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "x.example.com"\n[[registry.mirror]]\nlocation = "m.n/exact"\n'
        '[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "m.n/wild"\n'
        '[[registry]]\nlocation = "x.example.com/team"\n[[registry.mirror]]\nlocation = "m.n/t"\n'
    )
    loaded = load(tmp_path, {MAIN: text})
    assert sources(loaded, "x.example.com/app:1")[0] == "m.n/wild/app:1"
    assert sources(loaded, "x.example.com/team/app:1")[0] == "m.n/t/app:1"
    assert sources(loaded, "x.example.com/teamx/app:1")[0] == "m.n/wild/teamx/app:1"


def test_docker_hub_names_are_normalised_before_matching(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "docker.io/library"\n[[registry.mirror]]\nlocation = "m.n/hub"\n'
    )
    loaded = load(tmp_path, {MAIN: text})
    assert sources(loaded, "docker.io/busybox") == [
        "m.n/hub/busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    explained = loaded.explain("index.docker.io/library/busybox:1")
    assert explained.normalized == "docker.io/library/busybox:1"


# --- §7 pull sources ----------------------------------------------------------------------


MIXED = (
    '[[registry]]\nlocation = "r.example.com"\n'
    '[[registry.mirror]]\nlocation = "d.example.net"\npull-from-mirror = "digest-only"\n'
    '[[registry.mirror]]\nlocation = "t.example.net"\npull-from-mirror = "tag-only"\n'
    '[[registry.mirror]]\nlocation = "a.example.net"\ninsecure = true\n'
)


def test_pull_from_mirror_filters_by_reference_kind(tmp_path: Path) -> None:
    loaded = load(tmp_path, {MAIN: MIXED})
    assert sources(loaded, f"r.example.com/app@{DIGEST}") == [
        f"d.example.net/app@{DIGEST}",
        f"a.example.net/app@{DIGEST} [insecure]",
        f"r.example.com/app@{DIGEST}",
    ]
    tagged = loaded.explain("r.example.com/app:1")
    assert [s.location for s in tagged.pull_sources] == [
        "t.example.net/app:1",
        "a.example.net/app:1",
        "r.example.com/app:1",
    ]
    (skipped,) = tagged.resolutions[0].skipped_mirrors
    assert skipped.location == "d.example.net/app:1"
    assert "digest-only" in skipped.reason


def test_mirror_by_digest_only_skips_every_mirror_for_tags(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\nmirror-by-digest-only = true\n'
        '[[registry.mirror]]\nlocation = "m.example.net"\n'
    )
    explained = load(tmp_path, {MAIN: text}).explain("r.example.com/app")
    assert [s.location for s in explained.pull_sources] == ["r.example.com/app:latest"]
    assert [s.reason for s in explained.resolutions[0].skipped_mirrors] == [
        "mirror-by-digest-only = true and the reference has no digest"
    ]


def test_tag_and_digest_together_pull_by_digest(tmp_path: Path) -> None:
    explained = load(tmp_path, {MAIN: MIXED}).explain(f"r.example.com/app:1@{DIGEST}")
    assert explained.normalized == f"r.example.com/app@{DIGEST}"


@pytest.mark.parametrize(
    ("mirror", "reference"),
    [
        ("mirror.example.net", "registry.example.com/example"),  # bare host
        ("mirrorhost/cache", "registry.example.com/example/app"),  # not a host
        ("docker.io", "registry.example.com/example/app"),  # docker.io/app → library/app
        ("m.example.net/Cache", "registry.example.com/example/app"),  # uppercase
        ("m.example.net/cache:5000", "registry.example.com/example/app"),  # port in path
    ],
)
def test_bad_rewrite_fails_the_whole_reference(tmp_path: Path, mirror: str, reference: str) -> None:
    text = (
        '[[registry]]\nprefix = "registry.example.com/example"\n'
        'location = "registry.example.com/example"\n'
        f'[[registry.mirror]]\nlocation = "{mirror}"\n'
    )
    explained = load(tmp_path, {MAIN: text}).explain(f"{reference}@{DIGEST}")
    assert explained.problem is not None
    assert (explained.problem.kind, explained.problem.stage) == (
        "rewrite-invalid-reference",
        "rewrite",
    )
    assert mirror in explained.problem.message
    assert explained.pull_sources == ()


@pytest.mark.parametrize(
    "digest", ["sha384:" + "0123456789abcdef" * 6, "sha512:" + "0123456789abcdef" * 8]
)
def test_every_go_digest_algorithm_selects_digest_mirrors(tmp_path: Path, digest: str) -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\n'
        '[[registry.mirror]]\nlocation = "d.example.net"\npull-from-mirror = "digest-only"\n'
        '[[registry.mirror]]\nlocation = "t.example.net"\npull-from-mirror = "tag-only"\n'
    )
    loaded = load(tmp_path, {MAIN: text})
    assert sources(loaded, f"r.example.com/app@{digest}") == [
        f"d.example.net/app@{digest}",
        f"r.example.com/app@{digest}",
    ]
    assert sources(loaded, f"r.example.com/app:1@{digest}") == [
        f"d.example.net/app@{digest}",
        f"r.example.com/app@{digest}",
    ]
    problem = loaded.explain(f"r.example.com/app@{digest[:-1]}").problem
    assert problem is not None and problem.kind == "invalid-reference"


def test_tables_shorten_every_digest_algorithm_alike() -> None:
    for algorithm, length in (("sha256", 64), ("sha384", 96), ("sha512", 128)):
        text = f"served by m.example.net/app@{algorithm}:" + "0123456789ab" + "f" * (length - 12)
        assert short_digest(text) == f"served by m.example.net/app@{algorithm}:0123456789ab…"
    not_a_digest = "sha512:" + "f" * 64
    assert short_digest(not_a_digest) == not_a_digest


def test_wildcard_rewrites_host_and_keeps_port(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nprefix = "*.example.com"\n'
        '[[registry.mirror]]\nlocation = "mirror.example.net"\n'
    )
    assert sources(load(tmp_path, {MAIN: text}), "a.example.com:5000/app:1") == [
        "mirror.example.net:5000/app:1",
        "a.example.com:5000/app:1",
    ]


# --- §8 blocked and insecure per attempt ----------------------------------------------


def test_blocked_is_looked_up_again_for_each_rewritten_source(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\nblocked = true\n'
        '[[registry.mirror]]\nlocation = "bad.example.net/x"\n'
        '[[registry.mirror]]\nlocation = "good.example.net"\n'
        '[[registry]]\nlocation = "bad.example.net"\nblocked = true\n'
        '[[registry]]\nprefix = "remap.example.com"\nlocation = "elsewhere.example.com"\n'
        "blocked = true\n"
    )
    loaded = load(tmp_path, {MAIN: text})
    explained = loaded.explain("r.example.com/app:1")
    assert [(s.location, s.blocked, s.blocked_by) for s in explained.pull_sources] == [
        ("bad.example.net/x/app:1", True, "bad.example.net"),
        ("good.example.net/app:1", False, None),
        ("r.example.com/app:1", True, "r.example.com"),
    ]
    # Quirk: blocked on a remapped entry does not block its own primary.
    assert sources(loaded, "remap.example.com/app:1") == ["elsewhere.example.com/app:1"]


def test_insecure_comes_from_the_source_itself(tmp_path: Path) -> None:
    text = (
        '[[registry]]\nlocation = "r.example.com"\n'
        '[[registry.mirror]]\nlocation = "m.example.net"\n'
        '[[registry]]\nlocation = "m.example.net"\ninsecure = true\n'
    )
    assert sources(load(tmp_path, {MAIN: text}), "r.example.com/app:1") == [
        "m.example.net/app:1",
        "r.example.com/app:1",
    ]


# --- §9 short names -----------------------------------------------------------------------


def test_short_name_uses_alias_before_search_registries(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: 'unqualified-search-registries = ["a.example.com", "docker.io"]\n'
            '[aliases]\n"tools" = "r.example.com/ns/tools"\n'
        },
    )
    tools = loaded.explain("tools:1")
    assert [c.reference for c in tools.candidates] == ["r.example.com/ns/tools:1"]
    assert tools.candidates[0].origin == "alias"
    other = loaded.explain("busybox")
    assert [c.reference for c in other.candidates] == [
        "a.example.com/busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    assert [s.location for s in other.pull_sources] == [
        "a.example.com/busybox:latest",
        "docker.io/library/busybox:latest",
    ]


def test_ambiguous_short_name_under_enforcing_mode_is_a_problem(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {MAIN: 'unqualified-search-registries = ["a.b", "c.d"]\nshort-name-mode = "enforcing"\n'},
    )
    problem = loaded.explain("busybox").problem
    assert problem is not None and "enforcing" in problem.message
    assert loaded.explain("busybox@" + DIGEST).problem is not None


def test_short_name_without_search_registries_is_a_problem(tmp_path: Path) -> None:
    problem = load(tmp_path, {}).explain("busybox").problem
    assert problem is not None
    assert problem.stage == "short-name"


def test_a_rewrite_error_ends_one_candidate_not_the_resolution(tmp_path: Path) -> None:
    text = (
        'unqualified-search-registries = ["quay.io", "example.com"]\n'
        '[[registry]]\nlocation = "quay.io"\n[[registry.mirror]]\nlocation = "mirrorhost"\n'
    )
    loaded = load(tmp_path, {MAIN: text})
    explained = loaded.explain("busybox")
    assert explained.problem is None
    assert [c.reference for c in explained.candidates] == [
        "quay.io/busybox:latest",
        "example.com/busybox:latest",
    ]
    failed, tried = explained.resolutions
    assert failed.problem is not None and failed.problem.kind == "rewrite-invalid-reference"
    assert "mirrorhost" in failed.problem.message
    assert (failed.pull_sources, failed.matched_prefix) == ((), "quay.io")
    assert tried.problem is None
    assert [s.location for s in explained.pull_sources] == ["example.com/busybox:latest"]
    shown = explain_table(loaded.config, [explained])
    assert "candidate fails (rewrite-invalid-reference)" in shown
    assert "1  source  example.com/busybox:latest" in shown
    candidates = explanation_json(explained)["candidates"]
    assert [c["error"] and c["error"]["kind"] for c in candidates] == [
        "rewrite-invalid-reference",
        None,
    ]


def test_when_every_candidate_fails_to_rewrite_nothing_is_tried(tmp_path: Path) -> None:
    text = (
        'unqualified-search-registries = ["quay.io", "example.com"]\n'
        '[[registry]]\nprefix = "*.io"\n[[registry.mirror]]\nlocation = "mirrorhost"\n'
        '[[registry]]\nprefix = "example.com"\nlocation = "example.com"\n'
        '[[registry.mirror]]\nlocation = "m.example.net/Upper"\n'
    )
    explained = load(tmp_path, {MAIN: text}).explain("busybox:1")
    assert explained.problem is not None
    assert (explained.problem.kind, explained.problem.stage) == (
        "rewrite-invalid-reference",
        "rewrite",
    )
    assert "every short-name candidate fails" in explained.problem.message
    assert len(explained.resolutions) == 2 and explained.pull_sources == ()


@pytest.mark.parametrize("digest", [DIGEST, "sha384:" + "c" * 96, "sha512:" + "d" * 128])
def test_tag_and_digest_short_name_candidates_carry_the_digest_only(
    tmp_path: Path, digest: str
) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: 'unqualified-search-registries = ["quay.io", "docker.io"]\n'
            '[aliases]\n"tools" = "r.example.com/ns/tools"\n'
        },
    )
    searched = loaded.explain(f"busybox:1@{digest}")
    assert [c.reference for c in searched.candidates] == [
        f"quay.io/busybox@{digest}",
        f"docker.io/library/busybox@{digest}",
    ]
    aliased = loaded.explain(f"tools:2.1@{digest}")
    assert [c.reference for c in aliased.candidates] == [f"r.example.com/ns/tools@{digest}"]
    assert [s.location for s in aliased.pull_sources] == [f"r.example.com/ns/tools@{digest}"]
    # a tag alone stays
    assert [c.reference for c in loaded.explain("tools:2.1").candidates] == [
        "r.example.com/ns/tools:2.1"
    ]


def test_alias_cache_takes_precedence_and_can_hide_an_alias(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            MAIN: 'unqualified-search-registries = ["s.example.com"]\n'
            '[aliases]\n"a" = "r.example.com/a"\n"b" = "r.example.com/b"\n',
            "var/cache/containers/short-name-aliases.conf": '[aliases]\n"a" = "c.example.com/a"\n'
            '"b" = ""\n',
        },
    )
    assert [c.reference for c in loaded.explain("a").candidates] == ["c.example.com/a:latest"]
    assert [c.reference for c in loaded.explain("b").candidates] == ["s.example.com/b:latest"]


# --- fingerprint and release selection ----------------------------------------------------


def _fingerprint(tmp_path: Path, name: str, files: dict[str, str]) -> str:
    return registries.load(host(tmp_path / name, files)).config.fingerprint


def test_fingerprint_ignores_formatting_comments_key_order_and_file_split(tmp_path: Path) -> None:
    one = _fingerprint(
        tmp_path,
        "one",
        {
            MAIN: '[[registry]]\nlocation = "a.b"\nmirror-by-digest-only = true\n'
            '[[registry.mirror]]\nlocation = "m.c"\n'
            '[[registry]]\nlocation = "x.y"\n'
        },
    )
    two = _fingerprint(
        tmp_path,
        "two",
        {
            MAIN: '# generated\n[[registry]]\n  location="x.y/"\n',
            f"{DROP_INS}/1.conf": "[[registry]]\nmirror-by-digest-only=true # digest only\n"
            'prefix = ""\nlocation = "a.b"\nmirror = [{location = "m.c"}]\n',
        },
    )
    assert one == two
    assert one.startswith("sha256:") and len(one) == 71


def test_fingerprint_changes_with_mirror_order(tmp_path: Path) -> None:
    entry = (
        '[[registry]]\nlocation = "a.b"\n'
        '[[registry.mirror]]\nlocation = "{}"\n[[registry.mirror]]\nlocation = "{}"\n'
    )
    assert _fingerprint(tmp_path, "1", {MAIN: entry.format("m.c", "n.c")}) != _fingerprint(
        tmp_path, "2", {MAIN: entry.format("n.c", "m.c")}
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("4.3.1", (5, 23)),
        ("4.4.1", (5, 24)),
        ("4.9.4-rhel", (5, 24)),
        ("5.4.2", (5, 24)),
        ("5.5.0", (5, 39)),
        ("v5.8.0-dev", (5, 39)),
    ],
)
def test_podman_version_selects_behaviour(version: str, expected: tuple[int, int]) -> None:
    assert compat_for_podman(version).containers_image == expected


@pytest.mark.parametrize("version", ["", "latest", "four"])
def test_bad_podman_version_is_refused(version: Optional[str]) -> None:
    with pytest.raises(ValueError, match="not a podman version"):
        compat_for_podman(version or "")
