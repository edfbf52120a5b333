"""containers/image's tests of registries.conf, ported to the agent's registries.conf engine
(agent/registries/: decoding, merging, entry selection, pull sources) with the behaviour
of that release (``LEGACY_PODMAN_4_3`` = containers/image 5.23).

Upstream: containers/image ``pkg/sysregistriesv2/system_registries_v2_test.go`` at v5.23.1
(a3bfb8695c8e2a6ce73cb5957c646d2243299151), with the configuration files its testdata/
holds rewritten for this port (tests/unit/upstream/conf_files.py). Upstream asserts
containers/image's error strings; the agent words its errors itself (naming file, entry
and key), so the port asserts the kind of error and what it names.

Not ported, as they test Go internals without a behaviour of their own here: the
``Nonempty`` methods, the configuration cache (TestConfigCache, TestInvalidateCache,
TestTryUpdatingCache). TestRewriteReferenceFailedDuringParseNamed cases whose prefix does
not match the reference, or is malformed so that it never matches, cannot happen through a
configuration (an entry is only used for a reference its prefix matches, and a location's
trailing slashes are trimmed when it is read); the two that can are ported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import reference, registries
from agent.errors import AgentError, ConfigError, RewriteError
from agent.registries.resolve import find_entry, match_length
from tests.unit.upstream.conf_files import (
    DIGEST,
    DROP_IN_DIR,
    FIND_REGISTRY,
    MIRRORS,
    UNQUALIFIED_SEARCH,
    V1_COMPATIBLE,
    V5_23,
    decode,
    load,
    node_root,
)


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        decode(text)
    return caught.value


# --- TestParseLocation ----------------------------------------------------------------------


def test_parse_location() -> None:
    error = config_error('[[registry]]\nlocation = "https://example.com"\n')
    assert error.kind == "uri-scheme" and "https://example.com" in error.message
    assert decode('[[registry]]\nlocation = "john.doe@example.com"\n').registries[0].location == (
        "john.doe@example.com"
    )
    for written, held in [
        ("example.com", "example.com"),
        ("example.com/", "example.com"),  # trailing slashes are trimmed
        ("example.com//////", "example.com"),
        ("example.com:5000/with/path", "example.com:5000/with/path"),
    ]:
        (entry,) = decode(f'[[registry]]\nlocation = "{written}"\n').registries
        assert entry.location == held and entry.prefix == held


# --- TestEmptyConfig, TestMirrors, TestUnmarshalConfig --------------------------------------


def test_empty_and_missing_configurations(tmp_path: Path) -> None:
    assert load(tmp_path / "empty", "").config.registries == ()
    assert load(tmp_path / "none", None).config.registries == ()  # a missing default file


def test_mirrors(tmp_path: Path) -> None:
    config = load(tmp_path, MIRRORS).config
    assert len(config.registries) == 2
    entry = find_entry(config, "registry.com/image:tag")
    assert entry is not None
    assert [(m.location, m.insecure) for m in entry.mirrors] == [
        ("mirror-1.registry.com", False),
        ("mirror-2.registry.com", True),
    ]


def test_unmarshal(tmp_path: Path) -> None:
    text = MIRRORS + (
        '\n[[registry]]\nlocation = "insecure.registry.com"\ninsecure = true\n'
        '\n[[registry]]\nlocation = "untrusted.registry.com"\ninsecure = true\n'
    )
    config = load(tmp_path, text).config
    assert [entry.location for entry in config.registries] == [
        "blocked.registry.com",
        "insecure.registry.com",
        "registry.com",
        "untrusted.registry.com",
    ]


# --- TestRefMatchingSubdomainPrefix, TestRefMatchingPrefix ----------------------------------

SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("ref", "prefix", "length"),
    [
        ("docker.io", "*.io", len("docker.io")),
        ("docker.io/foo", "*.com", -1),
        ("example.com/foo", "*.co", -1),
        ("example.com/foo", "*.example.com", -1),
        ("example.com/foo", "*.com", len("example.com")),
        ("example.com/foo:bar", "*.com", len("example.com")),
        ("example.com/foo/bar:baz", "*.com", len("example.com")),
        ("yet.another.example.com/foo", "**.example.com", -1),
        ("yet.another.example.com/foo", "***.another.example.com", -1),
        ("yet.another.example.com/foo", "**********.another.example.com", -1),
        ("yet.another.example.com/foo/bar", "**********.another.example.com", -1),
        (
            "yet.another.example.com/foo/bar",
            "*.another.example.com",
            len("yet.another.example.com"),
        ),
        (
            "another.example.com/namespace.com/foo/bar/bbq:baz",
            "*.example.com",
            len("another.example.com"),
        ),
        ("example.net/namespace-ends-in.com/foo/bar/bbq:baz", "*.com", -1),
        ("another.example.com/namespace.com/foo/bar/bbq:baz", "*.namespace.com", -1),
        ("sub.example.com/foo/bar", "*.com", len("sub.example.com")),
        ("sub.example.com/foo/bar", "*.example.com", len("sub.example.com")),
        (
            "another.sub.example.com/foo/bar/bbq:baz",
            "*.example.com",
            len("another.sub.example.com"),
        ),
        (
            "another.sub.example.com/foo/bar/bbq:baz",
            "*.sub.example.com",
            len("another.sub.example.com"),
        ),
        (
            f"yet.another.example.com/foo/bar@{SHA_A}",
            "*.example.com",
            len("yet.another.example.com"),
        ),
        (
            f"yet.another.sub.example.com/foo/bar@{SHA_A}",
            "*.sub.example.com",
            len("yet.another.sub.example.com"),
        ),
    ],
)
def test_wildcard_prefix_matching(ref: str, prefix: str, length: int) -> None:
    assert match_length(ref, prefix) == length


@pytest.mark.parametrize(
    ("ref", "prefix", "length"),
    [
        ("docker.io", "docker.io", len("docker.io")),
        ("docker.io", "example.com", -1),
        ("example.com:5000", "example.com:5000", len("example.com:5000")),
        ("example.com:50000", "example.com:5000", -1),
        ("example.com:5000", "example.com", len("example.com")),  # unintended upstream, kept
        ("example.com/foo", "example.com", len("example.com")),
        ("example.com/foo/bar", "example.com", len("example.com")),
        ("example.com/foo/bar:baz", "example.com", len("example.com")),
        (f"example.com/foo/bar@{SHA_A}", "example.com", len("example.com")),
        ("docker.io", "docker.io/library", -1),
        ("docker.io/library", "docker.io/library", len("docker.io/library")),
        ("example.com/library", "docker.io/library", -1),
        ("docker.io/libraryy", "docker.io/library", -1),
        ("docker.io/library/busybox", "docker.io/library", len("docker.io/library")),
        ("docker.io", "docker.io/library/busybox", -1),
        (
            "docker.io/library/busybox",
            "docker.io/library/busybox",
            len("docker.io/library/busybox"),
        ),
        ("example.com/library/busybox", "docker.io/library/busybox", -1),
        ("docker.io/library/busybox2", "docker.io/library/busybox", -1),
        ("example.com", "example.com/foo:bar", -1),
        ("example.com/foo", "example.com/foo:bar", -1),
        ("example.com/foo:bar", "example.com/foo:bar", len("example.com/foo:bar")),
        ("example.com/foo:bar2", "example.com/foo:bar", -1),
        ("example.com", f"example.com/foo@{SHA_A}", -1),
        ("example.com/foo", f"example.com/foo@{SHA_A}", -1),
        (f"example.com/foo@{SHA_A}", f"example.com/foo@{SHA_A}", len(f"example.com/foo@{SHA_A}")),
        (f"example.com/foo@{SHA_B}", f"example.com/foo@{SHA_A}", -1),
        ("example.com/foo", "*", -1),  # an invalid prefix matches nothing
    ],
)
def test_prefix_matching(ref: str, prefix: str, length: int) -> None:
    assert match_length(ref, prefix) == length


# --- TestNewConfigWrapper: which main file is read ------------------------------------------


def test_which_main_file_is_read(tmp_path: Path) -> None:
    system = '[[registry]]\nlocation = "system.com"\n'
    root = node_root(tmp_path, system)
    assert registries.load(root).config.files == (str(root / "etc/containers/registries.conf"),)
    # A per-user file, even empty, takes the place of the system file.
    user = root / "root/.config/containers/registries.conf"
    user.parent.mkdir(parents=True)
    user.write_text('[[registry]]\nlocation = "user.com"\n')
    assert [e.location for e in registries.load(root).config.registries] == ["user.com"]
    # An explicit path beats both; no variable in it is expanded.
    explicit = tmp_path / "$HOME"
    explicit.write_text('[[registry]]\nlocation = "explicit.com"\n')
    loaded = registries.load(root, main_override=explicit)
    assert "explicit.com" in [e.location for e in loaded.config.registries]
    assert "user.com" not in [e.location for e in loaded.config.registries]


# --- TestFindRegistry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "prefix", "location"),
    [
        ("simple-prefix.com/foo/bar:latest", "simple-prefix.com", "registry.com:5000"),
        ("simple-prefix.com/", "simple-prefix.com", "registry.com:5000"),  # a path match
        ("simple-prefix.com", "simple-prefix.com", "registry.com:5000"),  # the host alone
        ("not.so.simple-prefix.com/", "*.so.simple-prefix.com", "subdomain-prefix.com"),
        ("not.quite.simple-prefix.com/", "*.simple-prefix.com", "subdomain-prefix-2.com"),
        (
            "not.quite.simple-prefix.com:5000/with/path/and/beyond:tag",
            "*.simple-prefix.com",
            "subdomain-prefix-2.com",
        ),
        # A drop-in replaces the entry of the same prefix.
        (
            "really.not.quite.simple-prefix.com:5000/with/path/and/beyond:tag",
            "*.not.quite.simple-prefix.com",
            "subdomain-prefix-1-overridden-by-dropin-location.com",
        ),
        # ...but a drop-in's *.docker.com is another prefix than *.docker.io.
        ("foo.docker.io:5000/omg/wtf/bbq:foo", "*.docker.io", "subdomain-prefix-2.com"),
        (
            f"foo.bar.example.com:6000/omg/wtf/bbq@{DIGEST}",
            "*.bar.example.com",
            "subdomain-prefix-3-overridden-by-dropin-location.com",
        ),
        # The longest prefix wins: *.bar.docker.io over *.docker.io, host:port over *.
        ("foo.bar.docker.io:5000/omg/wtf/bbq:foo", "*.bar.docker.io", "subdomain-prefix-4.com"),
        (
            "foo.bar.example.com:5000/omg/wtf/bbq:foo",
            "foo.bar.example.com:5000",
            "subdomain-prefix-5.com",
        ),
        (
            "complex-prefix.com:4000/with/path/and/beyond:tag",
            "complex-prefix.com:4000/with/path",
            "another-registry.com:5000",
        ),
        ("no-prefix.com/foo:tag", "no-prefix.com", "no-prefix.com"),
        ("empty-prefix.com/foo:tag", "empty-prefix.com", "empty-prefix.com"),
    ],
)
def test_find_registry(tmp_path: Path, ref: str, prefix: str, location: str) -> None:
    config = load(tmp_path, FIND_REGISTRY, DROP_IN_DIR).config
    assert len(config.registries) == 19
    entry = find_entry(config, ref)
    assert entry is not None and (entry.prefix, entry.location) == (prefix, location)


def test_find_registry_misses_and_a_missing_file(tmp_path: Path) -> None:
    config = load(tmp_path, FIND_REGISTRY, DROP_IN_DIR).config
    assert find_entry(config, "simple-prefix.comx") is None
    with pytest.raises(ConfigError):
        registries.load(node_root(tmp_path / "x", None), main_override=tmp_path / "missing.conf")


# --- TestFindUnqualifiedSearchRegistries ----------------------------------------------------


def test_unqualified_search_registries(tmp_path: Path) -> None:
    loaded = load(tmp_path, UNQUALIFIED_SEARCH)
    assert len(loaded.config.registries) == 4
    assert loaded.config.unqualified_search_registries == (
        "registry-a.com",
        "registry-c.com",
        "registry-d.com",
    )
    assert loaded.config.unqualified_search_registries_origin == str(
        tmp_path / "root/etc/containers/registries.conf"
    )
    error = config_error(
        'unqualified-search-registries = ["registry-a.com/namespace-is-forbidden"]\n'
    )
    assert error.kind == "invalid-unqualified-search"


# --- TestInvalidV2Configs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "named"),
    [
        (
            '[[registry]]\nlocation = "registry.com"\n  [[registry.mirror]]\n  location = "m.com"\n'
            '[[registry]]\nlocation = "registry.com"\ninsecure = true\n',
            "conflicting-insecure",
            "registry.com",
        ),
        (
            '[[registry]]\nlocation = "registry.com"\n'
            '[[registry]]\nlocation = "registry.com"\nblocked = true\n',
            "conflicting-blocked",
            "registry.com",
        ),
        (
            '[[registry]]\nlocation = "registry-b.com"\n'
            '  [[registry.mirror]]\n  location = "m.com"\n  [[registry.mirror]]\n',
            "mirror-location-missing",
            "registry-b.com",
        ),
        (
            '[[registry]]\nprefix = "http://schema-is-invalid.com"\n'
            'location = "registry.com:5000"\n',
            "uri-scheme",
            "http://schema-is-invalid.com",
        ),
    ],
)
def test_invalid_configurations(text: str, kind: str, named: str) -> None:
    error = config_error(text)
    assert error.kind == kind and named in error.message


def test_a_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        registries.load(node_root(tmp_path, None), main_override=tmp_path / "nope.conf")


# --- TestV1BackwardsCompatibility, TestMixingV1andV2 ----------------------------------------


def test_v1_compatibility(tmp_path: Path) -> None:
    config = load(tmp_path, V1_COMPATIBLE).config
    assert [(e.location, e.insecure, e.blocked) for e in config.registries] == [
        ("registry-a.com", True, False),
        ("registry-b.com", True, True),  # insecure and blocked tables merged
        ("registry-d.com", True, False),
        ("registry-e.com", True, False),
    ]
    assert config.unqualified_search_registries == (
        "registry-a.com",
        "registry-c.com",
        "registry-d.com",
    )
    entry = find_entry(config, "registry-b.com/bar/foo/barfoo:latest")
    assert entry is not None and entry.insecure and entry.blocked


@pytest.mark.parametrize("table", ["search", "block", "insecure"])
def test_v1_invalid_entries(table: str) -> None:
    text = V1_COMPATIBLE.replace(
        f"[registries.{table}]\nregistries = [",
        f'[registries.{table}]\nregistries = ["http://schema-is-invalid.com", ',
    )
    assert config_error(text).kind == "uri-scheme"


def test_mixing_v1_and_v2() -> None:
    text = 'unqualified-search-registries = ["registry-a.com"]\n' + V1_COMPATIBLE
    text += '\n[[registry]]\nlocation = "registry-a.com"\n'
    assert config_error(text).kind == "mixing-v1-v2"


# --- TestRewriteReferenceSuccess / FailedDuringParseNamed -----------------------------------


def source_for(ref: str, prefix: str, location: str) -> str:
    config = decode(f'[[registry]]\nprefix = "{prefix}"\nlocation = "{location}"\n')
    resolution = registries.pull_sources(config, reference.parse_normalized(ref))
    assert resolution.matched_prefix == prefix
    return resolution.pull_sources[-1].location


@pytest.mark.parametrize(
    ("ref", "prefix", "location", "rewritten"),
    [
        ("example.com/image", "example.com", "example.com", "example.com/image"),
        ("example.com/image:latest", "example.com", "example.com", "example.com/image:latest"),
        (
            "example.com:5000/image",
            "example.com:5000",
            "example.com:5000",
            "example.com:5000/image",
        ),
        (
            "example.com:5000/image:latest",
            "example.com:5000",
            "example.com:5000",
            "example.com:5000/image:latest",
        ),
        (f"example.com/foo@{SHA_A}", "example.com", "example.com", f"example.com/foo@{SHA_A}"),
        (
            "example.com/foo/image:latest",
            "example.com/foo",
            "example.com",
            "example.com/image:latest",
        ),
        (
            "example.com/foo/image:latest",
            "example.com/foo",
            "example.com/path",
            "example.com/path/image:latest",
        ),
        (
            "docker.io/library/image:latest",
            "docker.io",
            "docker.io",
            "docker.io/library/image:latest",
        ),
        ("docker.io/library/image", "docker.io/library", "example.com", "example.com/image"),
        ("docker.io/library/image", "docker.io", "example.com", "example.com/library/image"),
        (
            "docker.io/library/prefix/image",
            "docker.io/library/prefix",
            "example.com",
            "example.com/image",
        ),
        ("docker.io/namespace/image", "*.io", "example.com", "example.com/namespace/image"),
        (
            "docker.io/library/prefix/image",
            "*.io",
            "example.com",
            "example.com/library/prefix/image",
        ),
        (
            "sub.example.io/library/prefix/image",
            "*.example.io",
            "example.com",
            "example.com/library/prefix/image",
        ),
        (
            "another.sub.example.io:5000/library/prefix/image:latest",
            "*.sub.example.io",
            "example.com",
            "example.com:5000/library/prefix/image:latest",
        ),
        (
            "foo.bar.io/ns1/ns2/ns3/ns4",
            "*.bar.io",
            "omg.bbq.com/roflmao",
            "omg.bbq.com/roflmao/ns1/ns2/ns3/ns4",
        ),
        # A wildcard entry without location leaves the reference as it is.
        (
            "abc.internal.registry.com/foo:bar",
            "*.internal.registry.com",
            "",
            "abc.internal.registry.com/foo:bar",
        ),
        ("blah.foo.bar.com/omg:bbq", "*.com", "", "blah.foo.bar.com/omg:bbq"),
        (
            "alien.vs.predator.foobar.io:5000/omg",
            "*.foobar.io",
            "",
            "alien.vs.predator.foobar.io:5000/omg",
        ),
        (
            f"alien.vs.predator.foobar.io:5000/foo@{SHA_A}",
            "*.foobar.io",
            "",
            f"alien.vs.predator.foobar.io:5000/foo@{SHA_A}",
        ),
        (
            "alien.vs.predator.foobar.io:5000/omg:bbq",
            "*.foobar.io",
            "",
            "alien.vs.predator.foobar.io:5000/omg:bbq",
        ),
    ],
)
def test_rewrite_reference(ref: str, prefix: str, location: str, rewritten: str) -> None:
    assert source_for(ref, prefix, location) == rewritten


@pytest.mark.parametrize(
    ("ref", "prefix", "location"),
    [
        (f"example.com/foo@{SHA_A}", "example.com/foo", "example.com"),  # example.com@sha256
        ("example.com:5000/image:latest", "example.com", "example.com:5000"),  # two ports
    ],
)
def test_rewrite_reference_to_an_invalid_one_fails_the_pull(
    ref: str, prefix: str, location: str
) -> None:
    with pytest.raises(RewriteError):
        source_for(ref, prefix, location)


def test_an_empty_location_outside_a_wildcard_is_refused_when_read() -> None:
    # Upstream's rewrite of example.com:5000/image with location "" fails; such an entry
    # never gets that far, as reading it fails.
    assert config_error('[[registry]]\nprefix = "example.com"\nlocation = ""\n').kind


# --- TestPullSourcesFromReference, TestPullSourcesMirrorFromReference -----------------------


def sources(config: registries.Configuration, ref: str) -> list[str]:
    resolution = registries.pull_sources(config, reference.parse_normalized(ref))
    return [source.location for source in resolution.pull_sources]


def test_pull_sources_from_reference() -> None:
    config = decode(
        """
[[registry]]
prefix = "registry-a.com/foo"
location = "registry-a.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-a.com"
  [[registry.mirror]]
  location = "mirror-2.registry-a.com"
  insecure = true

[[registry]]
prefix = "registry-b.com/foo"
location = "registry-b.com/bar"
mirror-by-digest-only = true
  [[registry.mirror]]
  location = "mirror-1.registry-b.com"
  [[registry.mirror]]
  location = "mirror-2.registry-b.com"
"""
    )
    assert len(config.registries) == 2
    digested = registries.pull_sources(
        config, reference.parse_normalized(f"registry-a.com/foo/image@{SHA_A}")
    ).pull_sources
    assert len(digested) == 3
    assert digested[0].location == f"mirror-1.registry-a.com/image@{SHA_A}"
    assert digested[1].insecure
    assert sources(config, "registry-a.com/foo/image:aaa")[2] == "registry-a.com/bar/image:aaa"
    assert sources(config, f"registry-b.com/foo/image@{SHA_A}")[2] == (
        f"registry-b.com/bar/image@{SHA_A}"
    )
    assert sources(config, "registry-b.com/foo/image:aaa") == ["registry-b.com/bar/image:aaa"]


MIRROR_USAGE = """
[[registry]]
prefix = "registry-a.com/foo"
location = "registry-a.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-a.com"
  [[registry.mirror]]
  location = "mirror-2.registry-a.com"
  insecure = true

[[registry]]
prefix = "registry-b.com/foo"
location = "registry-b.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-b.com"
  pull-from-mirror = "digest-only"
  [[registry.mirror]]
  location = "mirror-2.registry-b.com"
  pull-from-mirror = "digest-only"

[[registry]]
prefix = "registry-c.com/foo"
location = "registry-c.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-c.com"
  [[registry.mirror]]
  location = "mirror-2.registry-c.com"
  pull-from-mirror = "digest-only"

[[registry]]
prefix = "registry-d.com/foo"
location = "registry-d.com/bar"
mirror-by-digest-only = true
  [[registry.mirror]]
  location = "mirror-1.registry-d.com"
  [[registry.mirror]]
  location = "mirror-2.registry-d.com"

[[registry]]
prefix = "registry-e.com/foo"
location = "registry-e.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-e.com"
  pull-from-mirror = "tag-only"
  [[registry.mirror]]
  location = "mirror-2.registry-e.com"
  pull-from-mirror = "tag-only"

[[registry]]
prefix = "registry-f.com/foo"
location = "registry-f.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-f.com"
  [[registry.mirror]]
  location = "mirror-2.registry-f.com"
  pull-from-mirror = "tag-only"

[[registry]]
prefix = "registry-g.com/foo"
location = "registry-g.com/bar"
  [[registry.mirror]]
  location = "mirror-1.registry-g.com"
  pull-from-mirror = "digest-only"
  [[registry.mirror]]
  location = "mirror-2.registry-g.com"
  pull-from-mirror = "tag-only"
  [[registry.mirror]]
  location = "mirror-3.registry-g.com"
  [[registry.mirror]]
  location = "mirror-4.registry-g.com"
  pull-from-mirror = "all"
"""


@pytest.mark.parametrize(
    ("registry", "for_digest", "for_tag"),
    [
        ("a", ["mirror-1", "mirror-2", "source"], ["mirror-1", "mirror-2", "source"]),
        ("b", ["mirror-1", "mirror-2", "source"], ["source"]),
        ("c", ["mirror-1", "mirror-2", "source"], ["mirror-1", "source"]),
        ("d", ["mirror-1", "mirror-2", "source"], ["source"]),
        ("e", ["source"], ["mirror-1", "mirror-2", "source"]),
        ("f", ["mirror-1", "source"], ["mirror-1", "mirror-2", "source"]),
        (
            "g",
            ["mirror-1", "mirror-3", "mirror-4", "source"],
            ["mirror-2", "mirror-3", "mirror-4", "source"],
        ),
    ],
)
def test_pull_sources_by_mirror_usage(
    registry: str, for_digest: list[str], for_tag: list[str]
) -> None:
    config = decode(MIRROR_USAGE)
    assert len(config.registries) == 7
    host = f"registry-{registry}.com"

    def expected(names: list[str], suffix: str) -> list[str]:
        return [
            f"{host}/bar/image{suffix}" if name == "source" else f"{name}.{host}/image{suffix}"
            for name in names
        ]

    assert sources(config, f"{host}/foo/image@{SHA_A}") == expected(for_digest, f"@{SHA_A}")
    assert sources(config, f"{host}/foo/image:aaa") == expected(for_tag, ":aaa")


# --- TestInvalidMirrorConfig ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry_keys", "mirror_keys", "kind", "named"),
    [
        (
            'pull-from-mirror = "digest-only"\n',
            "",
            "pull-from-mirror-on-registry",
            "registry-a.com/foo",
        ),
        (
            "mirror-by-digest-only = true\n",
            'pull-from-mirror = "digest-only"\n',
            "pull-from-mirror-with-digest-only",
            "mirror-1.registry-a.com",
        ),
        ("", 'pull-from-mirror = "notvalid"\n', "pull-from-mirror-invalid", "notvalid"),
    ],
)
def test_invalid_mirror_configurations(
    registry_keys: str, mirror_keys: str, kind: str, named: str
) -> None:
    text = (
        '[[registry]]\nprefix = "registry-a.com/foo"\nlocation = "registry-a.com/bar"\n'
        + registry_keys
        + '[[registry.mirror]]\nlocation = "mirror-1.registry-a.com"\n'
        + mirror_keys
        + '[[registry.mirror]]\nlocation = "mirror-2.registry-a.com"\ninsecure = true\n'
    )
    error = config_error(text)
    assert error.kind == kind and named in error.message


# --- TestRegistriesConfDirectory ------------------------------------------------------------


def test_drop_in_directory(tmp_path: Path) -> None:
    base = (
        'unqualified-search-registries = ["example.com"]\n'
        '[[registry]]\nlocation = "base.com"\ninsecure = true\n'
    )
    drop_ins = {
        name: text
        for name, text in DROP_IN_DIR.items()
        if name.startswith(("config-", "subdomain-override"))
    }
    config = load(tmp_path, base, drop_ins).config
    assert config.unqualified_search_registries == ("example-overwrite.com",)
    assert config.unqualified_search_registries_origin == str(
        tmp_path / "root/etc/containers/registries.conf.d/config-1.conf"
    )
    # Sorted by prefix, as upstream holds them after merging (its test lists file order).
    assert sorted(entry.location for entry in config.registries) == sorted(
        [
            "subdomain-prefix-3-overridden-by-dropin-location.com",
            "subdomain-prefix-2-overridden-by-dropin-location.com",
            "subdomain-prefix-1-overridden-by-dropin-location.com",
            "1.com",
            "2.com",
            "base.com",
        ]
    )
    entry = find_entry(config, "base.com/test:latest")
    assert entry is not None and entry.blocked and not entry.insecure  # replaced whole


def test_drop_ins_merge_search_registries(tmp_path: Path) -> None:
    untouched = load(tmp_path / "1", UNQUALIFIED_SEARCH, {"no-usr.conf": ""}).config
    assert untouched.unqualified_search_registries == (
        "registry-a.com",
        "registry-c.com",
        "registry-d.com",
    )
    emptied = load(
        tmp_path / "2",
        UNQUALIFIED_SEARCH,
        {"empty-usr.conf": "unqualified-search-registries = []\n"},
    ).config
    assert emptied.unqualified_search_registries == ()


# --- TestParseShortNameMode, TestGetShortNameMode -------------------------------------------


@pytest.mark.parametrize("mode", ["disabled", "enforcing", "permissive"])
def test_short_name_modes(tmp_path: Path, mode: str) -> None:
    assert load(tmp_path, f'short-name-mode = "{mode}"\n').config.short_name_mode == mode


def test_short_name_mode_defaults_and_errors(tmp_path: Path) -> None:
    assert load(tmp_path / "a", "").config.short_name_mode == "permissive"  # empty: default
    assert load(tmp_path / "b", 'short-name-mode = ""\n').config.short_name_mode == "permissive"
    assert config_error('short-name-mode = "xxx"\n').kind == "invalid-short-name-mode"
    enforcing = 'short-name-mode = "enforcing"\n[aliases]\n"a" = "example.com/a"\n'
    assert load(tmp_path / "c", enforcing).config.short_name_mode == "enforcing"
    # A drop-in's mode wins over the main file's.
    permissive = load(tmp_path / "d", enforcing, {"config-2.conf": DROP_IN_DIR["config-2.conf"]})
    assert permissive.config.short_name_mode == "permissive"


# --- TestCredentialHelpers ------------------------------------------------------------------

CRED_HELPERS = """
credential-helpers = ["helper-1", "helper-2"]

[[registry]]
location = "registry-a.com"
"""


def test_credential_helpers(tmp_path: Path) -> None:
    assert load(tmp_path / "1", CRED_HELPERS).config.credential_helpers == ("helper-1", "helper-2")
    assert load(tmp_path / "2", "").config.credential_helpers == ("containers-auth.json",)
    emptied = load(tmp_path / "3", CRED_HELPERS, {"empty.conf": "credential-helpers = []\n"})
    assert emptied.config.credential_helpers == ("containers-auth.json",)
    dropped = load(tmp_path / "4", CRED_HELPERS, DROP_IN_DIR)
    assert dropped.config.credential_helpers == ("dropin-1", "dropin-2")


def test_the_engine_errors_are_agent_errors() -> None:
    # Every refusal above is a ConfigError (exit code 2 at the command line), never a crash.
    assert issubclass(ConfigError, AgentError) and issubclass(RewriteError, AgentError)
    assert V5_23.containers_image == (5, 23)
