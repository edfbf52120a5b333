"""Tests for agent.reference: the containers/image docker reference grammar.

Many vectors restate cases from containers/image docker/reference/*_test.go and
pkg/shortnames/shortnames_test.go in table form.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from typing import Optional

import pytest

from agent.errors import AgentError, ExitCode
from agent.reference import (
    DIGEST_ALGORITHMS,
    DIGEST_PATTERN,
    NAME_TOTAL_LENGTH_MAX,
    ImageReference,
    ReferenceError,
    is_digest,
    is_short_name,
    parse_canonical,
    parse_normalized,
    split_repository,
)

D1 = "sha256:" + "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
D2 = "sha256:" + "f" * 64
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
SHA384 = "sha384:" + "0123456789abcdef" * 6
SHA512 = "sha512:" + "fedcba9876543210" * 8


def _error(func: object, text: str) -> ReferenceError:
    assert callable(func)
    with pytest.raises(ReferenceError) as info:
        func(text)
    return info.value


# --- parse_normalized: valid input ----------------------------------------------------------

# input, canonical string, domain, path, tag, digest, familiar string
NORMALIZED_VALID: list[tuple[str, str, str, str, Optional[str], Optional[str], str]] = [
    # Docker Hub defaults: docker.io and library/
    ("busybox", "docker.io/library/busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("busybox:latest", "docker.io/library/busybox:latest", "docker.io", "library/busybox",
     "latest", None, "busybox:latest"),
    ("library/busybox", "docker.io/library/busybox", "docker.io", "library/busybox", None, None,
     "busybox"),
    ("docker.io/busybox", "docker.io/library/busybox", "docker.io", "library/busybox", None, None,
     "busybox"),
    ("docker.io/library/busybox", "docker.io/library/busybox", "docker.io", "library/busybox",
     None, None, "busybox"),
    ("index.docker.io/debian", "docker.io/library/debian", "docker.io", "library/debian", None,
     None, "debian"),
    ("index.docker.io/library/debian", "docker.io/library/debian", "docker.io", "library/debian",
     None, None, "debian"),
    ("index.docker.io/fooo/bar", "docker.io/fooo/bar", "docker.io", "fooo/bar", None, None,
     "fooo/bar"),
    ("ns/app:1", "docker.io/ns/app:1", "docker.io", "ns/app", "1", None, "ns/app:1"),
    ("other/library", "docker.io/other/library", "docker.io", "other/library", None, None,
     "other/library"),
    ("store/foo/bar", "docker.io/store/foo/bar", "docker.io", "store/foo/bar", None, None,
     "store/foo/bar"),
    # library/ with more than one further component is not shortened
    ("library/foo/bar", "docker.io/library/foo/bar", "docker.io", "library/foo/bar", None, None,
     "library/foo/bar"),
    ("docker.io/library/foo/bar", "docker.io/library/foo/bar", "docker.io", "library/foo/bar",
     None, None, "library/foo/bar"),
    ("ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "docker.io",
     "library/ubuntu-12.04-base", None, None, "ubuntu-12.04-base"),
    # first component without '.', ':' and not "localhost" is a Docker Hub namespace
    ("test_com/foo", "docker.io/test_com/foo", "docker.io", "test_com/foo", None, None,
     "test_com/foo"),
    ("docker/migrator", "docker.io/docker/migrator", "docker.io", "docker/migrator", None, None,
     "docker/migrator"),
    # with no '/', "localhost" and host-like names are repository names, ":N" is a tag
    ("localhost", "docker.io/library/localhost", "docker.io", "library/localhost", None, None,
     "localhost"),
    ("localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost",
     "5000", None, "localhost:5000"),
    ("test.com:5000", "docker.io/library/test.com:5000", "docker.io", "library/test.com", "5000",
     None, "test.com:5000"),
    ("docker.io", "docker.io/library/docker.io", "docker.io", "library/docker.io", None, None,
     "docker.io"),
    ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "docker.io", "library/foo_bar.com",
     "8080", None, "foo_bar.com:8080"),
    # other registries
    ("localhost/foo", "localhost/foo", "localhost", "foo", None, None, "localhost/foo"),
    ("localhost:5000/foo:latest", "localhost:5000/foo:latest", "localhost:5000", "foo", "latest",
     None, "localhost:5000/foo:latest"),
    ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker", "127.0.0.1:5000",
     "docker/docker", None, None, "127.0.0.1:5000/docker/docker"),
    ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase",
     None, None, "127.0.0.1:8000/privatebase"),
    ("example.com/private/moonbase", "example.com/private/moonbase", "example.com",
     "private/moonbase", None, None, "example.com/private/moonbase"),
    ("example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000",
     "privatebasee", None, None, "example.com:8000/privatebasee"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox", "gcr.io", "library/busybox", None, None,
     "gcr.io/library/busybox"),
    ("test-com:8080/foo", "test-com:8080/foo", "test-com:8080", "foo", None, None,
     "test-com:8080/foo"),
    ("test:5000/repo", "test:5000/repo", "test:5000", "repo", None, None, "test:5000/repo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", None, None,
     "xn--n3h.com:18080/foo"),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com",
     "myimage", "xn--n3h.com", None, "xn--n3h.com/myimage:xn--n3h.com"),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
     "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None,
     "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    ("b.gcr.io/test.example.com/my-app:test.example.com",
     "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app",
     "test.example.com", None, "b.gcr.io/test.example.com/my-app:test.example.com"),
    ("0101.com/a", "0101.com/a", "0101.com", "a", None, None, "0101.com/a"),
    # the host keeps its case; only the repository path must be lowercase
    ("Asdf.com/foo/bar", "Asdf.com/foo/bar", "Asdf.com", "foo/bar", None, None,
     "Asdf.com/foo/bar"),
    ("LOCALHOST:5000/foo", "LOCALHOST:5000/foo", "LOCALHOST:5000", "foo", None, None,
     "LOCALHOST:5000/foo"),
    # separators: '.', '_', '__', any number of '-'
    ("docker-rules/docker", "docker.io/docker-rules/docker", "docker.io", "docker-rules/docker",
     None, None, "docker-rules/docker"),
    ("docker---rules/docker", "docker.io/docker---rules/docker", "docker.io",
     "docker---rules/docker", None, None, "docker---rules/docker"),
    ("dock__er/docker", "docker.io/dock__er/docker", "docker.io", "dock__er/docker", None, None,
     "dock__er/docker"),
    ("d/docker", "docker.io/d/docker", "docker.io", "d/docker", None, None, "d/docker"),
    ("jess/t", "docker.io/jess/t", "docker.io", "jess/t", None, None, "jess/t"),
    ("example.com/some_separator__underscore/myimage",
     "example.com/some_separator__underscore/myimage", "example.com",
     "some_separator__underscore/myimage", None, None,
     "example.com/some_separator__underscore/myimage"),
    ("registry.io/foo/project--id.module--name.ver---sion--name",
     "registry.io/foo/project--id.module--name.ver---sion--name", "registry.io",
     "foo/project--id.module--name.ver---sion--name", None, None,
     "registry.io/foo/project--id.module--name.ver---sion--name"),
    # 64 characters that are not all hex, 63 hex, and 64 hex qualified or tagged are names
    ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     None, None, "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    (HEX64[:63], f"docker.io/library/{HEX64[:63]}", "docker.io", f"library/{HEX64[:63]}", None,
     None, HEX64[:63]),
    (f"docker.io/{HEX64}", f"docker.io/library/{HEX64}", "docker.io", f"library/{HEX64}", None,
     None, HEX64),
    (f"{HEX64}:v1", f"docker.io/library/{HEX64}:v1", "docker.io", f"library/{HEX64}", "v1", None,
     f"{HEX64}:v1"),
    # tags: any case, '_' first, 128 characters
    ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io",
     "library/lowercase", "Uppercase", None, "lowercase:Uppercase"),
    ("a:_x.Y-1", "docker.io/library/a:_x.Y-1", "docker.io", "library/a", "_x.Y-1", None,
     "a:_x.Y-1"),
    ("a:" + "t" * 128, "docker.io/library/a:" + "t" * 128, "docker.io", "library/a", "t" * 128,
     None, "a:" + "t" * 128),
    # digests, alone and with a tag
    (f"redis@{D1}", f"docker.io/library/redis@{D1}", "docker.io", "library/redis", None, D1,
     f"redis@{D1}"),
    (f"busybox:latest@{D1}", f"docker.io/library/busybox:latest@{D1}", "docker.io",
     "library/busybox", "latest", D1, f"busybox:latest@{D1}"),
    (f"dmcgowan/myapp@{D1}", f"docker.io/dmcgowan/myapp@{D1}", "docker.io", "dmcgowan/myapp",
     None, D1, f"dmcgowan/myapp@{D1}"),
    (f"test:5000/repo:tag@{D2}", f"test:5000/repo:tag@{D2}", "test:5000", "repo", "tag", D2,
     f"test:5000/repo:tag@{D2}"),
    (f"localhost@{D2}", f"docker.io/library/localhost@{D2}", "docker.io", "library/localhost",
     None, D2, f"localhost@{D2}"),
    # every algorithm go-digest v1.0.0 accepts
    (f"example.com/app@{SHA384}", f"example.com/app@{SHA384}", "example.com", "app", None,
     SHA384, f"example.com/app@{SHA384}"),
    (f"busybox:1@{SHA512}", f"docker.io/library/busybox:1@{SHA512}", "docker.io",
     "library/busybox", "1", SHA512, f"busybox:1@{SHA512}"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "canonical", "domain", "path", "tag", "digest", "familiar"), NORMALIZED_VALID
)
def test_parse_normalized_valid(
    text: str,
    canonical: str,
    domain: str,
    path: str,
    tag: Optional[str],
    digest: Optional[str],
    familiar: str,
) -> None:
    ref = parse_normalized(text)
    assert ref == ImageReference(domain, path, tag, digest)
    assert str(ref) == canonical
    assert ref.name == f"{domain}/{path}"
    assert ref.familiar() == familiar
    # the canonical form is accepted by parse_canonical and means the same thing
    assert parse_canonical(canonical) == ref
    # and the familiar form normalises back to it, except for a 64-hex repository name, which
    # the short form would take for an image ID (upstream behaves the same way)
    if familiar != HEX64:
        assert parse_normalized(familiar) == ref
    assert split_repository(text) == (ref.name, tag, digest)


def test_every_go_digest_algorithm_is_accepted_with_its_length_only() -> None:
    assert DIGEST_ALGORITHMS == {"sha256": 64, "sha384": 96, "sha512": 128}
    for algorithm, length in DIGEST_ALGORITHMS.items():
        for hex_digits in (48, 64, 96, 128):
            digest = f"{algorithm}:" + "a" * hex_digits
            valid = hex_digits == length
            assert is_digest(digest) is valid
            assert (re.fullmatch(DIGEST_PATTERN, digest) is not None) is valid
            if valid:
                assert parse_canonical(f"example.com/app@{digest}").digest == digest
            else:
                assert (
                    f"{algorithm} needs {length} hex digits"
                    in _error(parse_normalized, f"example.com/app@{digest}").message
                )
    assert not is_digest("sha256:" + "A" * 64)
    assert not is_digest("md5:" + "a" * 32)


# --- parse_normalized: invalid input --------------------------------------------------------

LONG_NAMESPACE = (
    "this_is_not_a_valid_namespace_because_its_length_is_greater_than_255_" * 4 + "x/docker"
)

# input, a fragment the error must contain
NORMALIZED_INVALID: list[tuple[str, str]] = [
    # refused before anything else
    ("", "must not be empty"),
    ("-docker", "must not start with '-'"),
    ("-docker/docker", "must not start with '-'"),
    ("-docker.io/docker/docker", "must not start with '-'"),
    ("--help", "must not start with '-'"),
    ("-", "must not start with '-'"),
    (" busybox", "must not contain whitespace"),
    ("busybox ", "must not contain whitespace"),
    ("bus box", "must not contain whitespace"),
    ("busybox\t", "must not contain whitespace"),
    ("busybox\n", "must not contain whitespace"),
    ("busybox:1\r", "must not contain whitespace"),
    (" ", "must not contain whitespace"),
    ("busybox\u00a0", "must not contain whitespace"),
    # lowercase repository path
    ("Foo/bar", "repository name must be lowercase"),
    ("docker/Docker", "repository name must be lowercase"),
    ("docker.io/docker/Docker", "repository name must be lowercase"),
    ("Uppercase:tag", "repository name must be lowercase"),
    ("Uppercase/lowercase:tag", "repository name must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"),
    ("localhost/Foo", "repository name must be lowercase"),
    ("Localhost/foo", "repository name must be lowercase"),  # not "localhost": a Hub namespace
    ("Asdf.com/Foo/bar", "repository name must be lowercase"),
    (f"Busybox@{D1}", "repository name must be lowercase"),
    # image IDs
    (HEX64, "64-character hexadecimal string is an image ID"),
    # path structure
    ("docker///docker", "empty path component"),
    ("docker.io/docker///docker", "empty path component"),
    ("docker/", "empty path component"),
    ("m.example.net//app:1", "empty path component"),
    ("example.com/", "empty path component"),
    (":justtag", "missing repository name"),
    (f"@{D2}", "missing repository name"),
    ("docker-/docker", 'invalid path component "docker-"'),
    ("foo/bar-", 'invalid path component "bar-"'),
    ("foo/-bar", 'invalid path component "-bar"'),
    ("____/____", 'invalid path component "____"'),
    ("_docker/_docker", 'invalid path component "_docker"'),
    ("docker_/docker_", 'invalid path component "docker_"'),
    ("example.com/__underscore/myimage", 'invalid path component "__underscore"'),
    ("example.com/..dots/myimage", 'invalid path component "..dots"'),
    ("example.com/.dots/myimage", 'invalid path component ".dots"'),
    ("example.com/nodouble..dots/myimage", 'invalid path component "nodouble..dots"'),
    ("example.com/a___b", 'invalid path component "a___b"'),
    ("aa/asdf$$^/aa", 'invalid path component "asdf$$^"'),
    ("b\u00fccher", 'invalid path component "b\u00fccher"'),
    ("$$$", 'invalid path component "$$$"'),
    ("mirror.example.net/cache:5000/app:1", 'invalid path component "cache:5000"'),
    # registry host
    ("https://github.com/docker/docker", 'invalid registry host "https:"'),
    ("docker://quay.io/library/foo:bar", 'invalid registry host "docker:"'),
    ("foo.com:http/bar", 'invalid registry host "foo.com:http"'),
    ("localhost:http/name", 'invalid registry host "localhost:http"'),
    ("bad_hostname.com:8080/myapp:tag", 'invalid registry host "bad_hostname.com:8080"'),
    ("do__cker:8080/docker", 'invalid registry host "do__cker:8080"'),
    ("dock..er/docker", 'invalid registry host "dock..er"'),
    ("dock_.er/docker", 'invalid registry host "dock_.er"'),
    ("dock-.er/docker", 'invalid registry host "dock-.er"'),
    ("-ab.com/x", "must not start with '-'"),
    ("ab-.com/x", 'invalid registry host "ab-.com"'),
    ("ab.-com/x", 'invalid registry host "ab.-com"'),
    ("::", 'invalid path component ":"'),
    # a '.'-containing first component that is only valid as a path component: upstream
    # would return a reference with an empty domain
    ("foo_bar.com/x", '"foo_bar.com" is not a valid registry host name'),
    ("do__cker.io/docker", '"do__cker.io" is not a valid registry host name'),
    # tags
    ("busybox:", "empty tag after ':'"),
    ("registry.com:8080/myapp:invalid~tag", 'invalid tag "invalid~tag"'),
    ("busybox:.x", 'invalid tag ".x"'),
    ("busybox:-x", 'invalid tag "-x"'),
    ("busybox:" + "t" * 129, "a tag is 1 to 128"),
    # digests
    ("busybox@", "empty digest after '@'"),
    (f"a@b@{D2}", "more than one '@'"),
    ("repo@sha256:" + "f" * 34, "sha256 needs 64 hex digits, got 34"),
    ("registry.com:8080/myapp@sha256:badbadbadbad", "sha256 needs 64 hex digits, got 12"),
    ("repo@sha256:" + "f" * 65, "sha256 needs 64 hex digits, got 65"),
    ("repo@sha256:" + "F" * 64, "hex digits must be lowercase"),
    ("repo@sha256:" + "g" * 64, "expected sha256:, sha384: or sha512: followed by"),
    ("repo@sha256", "expected sha256:, sha384: or sha512: followed by"),
    ("repo@sha256:", "expected sha256:, sha384: or sha512: followed by"),
    ("registry.com:8080/myapp@bad", "expected sha256:, sha384: or sha512:"),
    ("registry.com:8080/myapp@2bad", "expected sha256:, sha384: or sha512:"),
    ("validname@invaliddigest:" + "f" * 64, 'unsupported digest algorithm "invaliddigest"'),
    ("repo@md5:" + "f" * 32, 'unsupported digest algorithm "md5"'),
    ("repo@SHA256:" + "f" * 64, 'unsupported digest algorithm "SHA256"'),
    ("repo@sha512:" + "f" * 127, "sha512 needs 128 hex digits, got 127"),
    ("repo@sha512:" + "f" * 129, "sha512 needs 128 hex digits, got 129"),
    ("repo@sha512:" + "f" * 64, "sha512 needs 128 hex digits, got 64"),
    ("repo@sha384:" + "f" * 128, "sha384 needs 96 hex digits, got 128"),
    ("repo@sha256:" + "f" * 96, "sha256 needs 64 hex digits, got 96"),
    ("repo@sha512:" + "F" * 128, "hex digits must be lowercase"),
    ("repo@sha384:" + "A" * 96, "hex digits must be lowercase"),
    ("repo@SHA512:" + "f" * 128, 'unsupported digest algorithm "SHA512"'),
    ("repo@sha1:" + "f" * 40, 'unsupported digest algorithm "sha1"'),
    (
        "xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + "f" * 127,
        "sha512 needs 128 hex digits",
    ),
    # length of the normalised name
    (LONG_NAMESPACE, "must not be more than 255 characters"),
    ("a" * 238, "must not be more than 255 characters"),  # docker.io/library/ makes it 256
    ("a/" * 127 + "a:tag", "must not be more than 255 characters"),  # docker.io/ makes it 265
]


@pytest.mark.parametrize(("text", "fragment"), NORMALIZED_INVALID)
def test_parse_normalized_invalid(text: str, fragment: str) -> None:
    error = _error(parse_normalized, text)
    assert fragment in error.message
    assert error.message.startswith(
        f"invalid image reference {json.dumps(text, ensure_ascii=False)}: "
    )
    assert error.reference == text
    assert error.problem is not None and fragment in error.problem


def test_error_message_exact_and_error_type() -> None:
    error = _error(parse_normalized, "Foo/bar")
    assert error.message == 'invalid image reference "Foo/bar": repository name must be lowercase'
    assert str(error) == error.message
    assert isinstance(error, AgentError)
    assert error.kind == "invalid-reference"
    assert error.exit_code == ExitCode.BAD_INPUT


def test_error_message_quotes_control_characters_and_truncates() -> None:
    assert '"a\\nb"' in _error(parse_normalized, "a\nb").message
    long_text = "Foo/" + "a" * 5000
    message = _error(parse_normalized, long_text).message
    assert len(message) < 500
    assert message.startswith('invalid image reference "Foo/aaa')


# --- name length -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("example.com/" + "a" * 243, True),  # 11 + 1 + 243 = 255
        ("example.com/" + "a" * 244, False),
        ("example.com/" + "a" * 243 + ":" + "t" * 128 + "@" + D1, True),  # tag/digest not counted
        ("a" * 237, True),  # docker.io/library/ + 237 = 255
        ("a" * 238, False),
        ("ns/" + "a" * 242, True),  # docker.io/ns/ + 242 = 255
        ("ns/" + "a" * 243, False),
    ],
)
def test_name_total_length(text: str, ok: bool) -> None:
    if ok:
        assert len(parse_normalized(text).name) <= NAME_TOTAL_LENGTH_MAX
    else:
        assert "must not be more than 255 characters" in _error(parse_normalized, text).message


# --- parse_canonical -----------------------------------------------------------------------

CANONICAL_VALID = [
    "docker.io/library/busybox",
    "docker.io/library/busybox:latest",
    f"docker.io/ns/app@{D1}",
    f"docker.io/library/busybox:latest@{D1}",
    "test.com/foo",
    "test:8080/foo",
    "localhost/foo",
    f"localhost:5000/a/b:1@{D2}",
    "mirror.example.net/cache/app:1",
    f"mirror.example.net:5000/cache/docker.io/library/app@{D2}",
    f"example.com/app@{SHA384}",
    f"example.com/app:1@{SHA512}",
    "Asdf.com/foo",
    "10.0.0.1:443/x",
]


@pytest.mark.parametrize("text", CANONICAL_VALID)
def test_parse_canonical_valid(text: str) -> None:
    ref = parse_canonical(text)
    assert str(ref) == text
    assert ref == parse_normalized(text)


CANONICAL_INVALID: list[tuple[str, str]] = [
    # bare names: no registry host at all
    (f"mirror.example.net@{D1}", f'no registry host, so it normalizes to "docker.io/library/'
     f'mirror.example.net@{D1}"'),
    ("test.com", 'no registry host, so it normalizes to "docker.io/library/test.com"'),
    ("foo", 'no registry host, so it normalizes to "docker.io/library/foo"'),
    # first component is not a host
    ("mirrorhost/cache/app:1", '"mirrorhost" is not a registry host'),
    ("mirrorhost/cache/app:1", 'normalizes to "docker.io/mirrorhost/cache/app:1"'),
    ("library/foo", '"library" is not a registry host'),
    ("test_com/foo", 'normalizes to "docker.io/test_com/foo"'),
    # a host, but not the canonical spelling
    ("docker.io/app:1", 'it normalizes to "docker.io/library/app:1"'),
    ("docker.io/foo", 'it normalizes to "docker.io/library/foo"'),
    ("index.docker.io/library/app:1", 'it normalizes to "docker.io/library/app:1"'),
    ("index.docker.io/ns/app", 'it normalizes to "docker.io/ns/app"'),
    # not valid at all
    ("mirror.example.net/cache:5000/app:1", 'invalid path component "cache:5000"'),
    ("m.example.net//app:1", "empty path component"),
    ("Foo/bar", "repository name must be lowercase"),
    ("", "must not be empty"),
    ("-x.example.com/app", "must not start with '-'"),
    ("foo_bar.com/x", "is not a valid registry host name"),
    (f"example.com/app@sha512:{'f' * 96}", "sha512 needs 128 hex digits, got 96"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "fragment"), CANONICAL_INVALID)
def test_parse_canonical_invalid(text: str, fragment: str) -> None:
    error = _error(parse_canonical, text)
    assert fragment in error.message
    assert error.message.startswith(
        f"invalid image reference {json.dumps(text, ensure_ascii=False)}: "
    )


def test_parse_canonical_says_canonical() -> None:
    assert "must be canonical and fully qualified" in _error(parse_canonical, "foo").message


# --- is_short_name -------------------------------------------------------------------------

SHORT_NAMES = [
    # from pkg/shortnames' tests
    "fedora",
    "fedora:latest",
    "library/fedora",
    "library/fedora:latest",
    f"busybox@{D1}",
    f"busybox:latest@{D1}",
    # more
    f"busybox@{SHA512}",
    "ns/app",
    "a/b/c:1",
    "test_com/foo",
    "localhost",  # no '/': a repository called localhost
    "localhost:5000",  # ... with tag 5000
    HEX64,
    "foo_bar.com/x",  # not a valid host, so the whole text is a path
    "Uppercase/lowercase:tag",  # "Uppercase" parses as a host name without '.' or ':'
    "a/" * 127 + "a:tag",  # valid unnormalised although it would not normalise
]

QUALIFIED_NAMES = [
    # from pkg/shortnames' tests
    "quay.io/fedora",
    "docker.io/fedora",
    "docker.io/library/fedora:latest",
    "localhost/fedora",
    "localhost:5000/fedora:latest",
    "example.foo.this.may.be.garbage.but.maybe.not:1234/fedora:latest",
    f"docker.io/library/busybox@{D1}",
    f"docker.io/library/busybox:latest@{D1}",
    f"docker.io/fedora@{D1}",
    # more
    f"quay.io/fedora@{SHA384}",
    "test:5000/repo",
    "Asdf.com/foo",
    "index.docker.io/ns/app",
    "127.0.0.1/x",
]

NOT_NAMES: list[tuple[str, str]] = [
    # from pkg/shortnames' tests
    ("", "must not be empty"),
    ("$$$", "invalid path component"),
    ("::", "invalid path component"),
    ("docker://quay.io/library/foo:bar", 'invalid registry host "docker:"'),
    (" ", "must not contain whitespace"),
    # more
    ("-fedora", "must not start with '-'"),
    ("Fedora", "repository name must be lowercase"),
    ("fedora:", "empty tag"),
    (f"fedora@sha384:{'f' * 64}", "sha384 needs 96 hex digits, got 64"),
    ("a/" * 128 + "a", "must not be more than 255 characters"),
    # qualified, but "docker.io/" + 245 characters grows past 255 with "library/"
    ("docker.io/" + "a" * 245, "must not be more than 255 characters"),
]


@pytest.mark.parametrize("text", SHORT_NAMES)
def test_is_short_name_true(text: str) -> None:
    assert is_short_name(text) is True


@pytest.mark.parametrize("text", QUALIFIED_NAMES)
def test_is_short_name_false(text: str) -> None:
    assert is_short_name(text) is False
    parse_normalized(text)  # a qualified name always normalises


@pytest.mark.parametrize(("text", "fragment"), NOT_NAMES)
def test_is_short_name_invalid(text: str, fragment: str) -> None:
    assert fragment in _error(is_short_name, text).message


# --- methods -------------------------------------------------------------------------------

# input, with_default_tag(), for_pull()
TAG_CASES = [
    ("busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
    ("busybox:1", "docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    (f"busybox@{D1}", f"docker.io/library/busybox@{D1}", f"docker.io/library/busybox@{D1}"),
    (
        f"busybox:1@{D1}",
        f"docker.io/library/busybox:1@{D1}",
        f"docker.io/library/busybox@{D1}",
    ),
    (
        f"gcr.io/library/busybox:latest@{D1}",
        f"gcr.io/library/busybox:latest@{D1}",
        f"gcr.io/library/busybox@{D1}",
    ),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest", "gcr.io/library/busybox:latest"),
    ("library/busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
]


@pytest.mark.parametrize(("text", "default_tagged", "pulled"), TAG_CASES)
def test_with_default_tag_and_for_pull(text: str, default_tagged: str, pulled: str) -> None:
    ref = parse_normalized(text)
    assert str(ref.with_default_tag()) == default_tagged
    assert str(ref.for_pull()) == pulled
    # idempotent, and the original is unchanged
    assert ref.for_pull().for_pull() == ref.for_pull()
    assert ref.with_default_tag().with_default_tag() == ref.with_default_tag()
    assert ref == parse_normalized(text)


def test_value_semantics() -> None:
    ref = parse_normalized("busybox:1")
    assert ref == parse_normalized("docker.io/library/busybox:1")
    assert hash(ref) == hash(parse_normalized("index.docker.io/busybox:1"))
    assert len({ref, parse_normalized("library/busybox:1")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "2"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("domain", "path", "tag", "digest", "fragment"),
    [
        ("docker.io", "Library/x", None, None, "repository name must be lowercase"),
        ("docker.io", "library//x", None, None, "empty path component"),
        ("", "library/x", None, None, 'invalid registry host ""'),
        ("foo_bar.com", "x", None, None, 'invalid registry host "foo_bar.com"'),
        ("-a.com", "x", None, None, "invalid registry host"),
        ("docker.io", "library/x", "", None, "empty tag"),
        ("docker.io", "library/x", ".x", None, 'invalid tag ".x"'),
        ("docker.io", "library/x", None, "md5:" + "f" * 32, "unsupported digest algorithm"),
        ("docker.io", "library/x", None, "sha512:" + "f" * 64, "sha512 needs 128 hex digits"),
        ("docker.io", "library/x", None, "sha256:abc", "sha256 needs 64 hex digits"),
        ("example.com", "a" * 244, None, None, "must not be more than 255 characters"),
    ],
)
def test_constructor_validates(
    domain: str, path: str, tag: Optional[str], digest: Optional[str], fragment: str
) -> None:
    with pytest.raises(ReferenceError) as info:
        ImageReference(domain, path, tag, digest)
    assert fragment in info.value.message


def test_constructor_accepts_valid_fields() -> None:
    ref = ImageReference("registry.example.com:5000", "team/app", "v1", D1)
    assert str(ref) == f"registry.example.com:5000/team/app:v1@{D1}"
    assert ref.familiar() == str(ref)
    assert ref.name == "registry.example.com:5000/team/app"


# --- regular expressions -------------------------------------------------------------------


def test_separator_rewrite_accepts_the_same_language() -> None:
    """`-+` in place of upstream's `[-]*` changes nothing: compare exhaustively on short strings."""
    from agent import reference

    upstream = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*")
    for length in range(1, 8):
        for chars in itertools.product("a-._", repeat=length):
            text = "".join(chars)
            expected = upstream.fullmatch(text) is not None
            assert (reference._PATH_COMPONENT_RE.fullmatch(text) is not None) == expected, text


@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000 + "!",
        "a-" * 3000 + "!",
        "a." * 3000,
        "a/" * 3000 + "!",
        "example.com/" + "a_" * 3000 + "A",
        "a.b" * 2000 + "/x!",
        "a" * 100_000 + "@",
        "x@sha256:" + "f" * 100_000,
    ],
)
def test_pathological_input_is_refused(text: str) -> None:
    """Refused, not hung on (bench/reference_parse.py measures how fast)."""
    with pytest.raises(ReferenceError):
        parse_normalized(text)
    with pytest.raises(ReferenceError):
        is_short_name(text)


def test_ascii_only_classes() -> None:
    # Go's \w and [[:xdigit:]] are ASCII; Python's str \w is not.
    assert "invalid tag" in _error(parse_normalized, "busybox:\u00e9t\u00e9").message
    assert _error(parse_normalized, "repo@sha256:" + "\uff10" * 64)
