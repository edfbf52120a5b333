"""agent.pull.log.redact: credentials out, everything else kept readable."""

from __future__ import annotations

import pytest

from agent.pull.log.redact import MIN_SECRET_LENGTH, Redactor, redact, trimmed
from tests.unit.pull_log.recorded import D, fixture_names, read_fixture

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl"


CASES = [
    (f"Authorization: Bearer {JWT}", "Authorization: Bearer REDACTED"),
    ("authorization: basic dXNlcjpwYXNzd29yZA==", "authorization: basic REDACTED"),
    (
        f"map[Authorization:[Bearer {JWT}] Accept:[*/*]]",
        "map[Authorization:[Bearer REDACTED] Accept:[*/*]]",
    ),
    (
        '{"Authorization": "Basic dXNlcjpwYXNz", "Accept": "x"}',
        '{"Authorization": "Basic REDACTED", "Accept": "x"}',
    ),
    ("Proxy-Authorization: Basic Ym9iOmh1bnRlcjI=", "Proxy-Authorization: Basic REDACTED"),
    ("X-Registry-Auth: eyJ1c2VybmFtZSI6ImJvYiJ9", "X-Registry-Auth: REDACTED"),
    (f"sent Bearer {JWT} to h", "sent Bearer REDACTED to h"),
    (
        "https://bob:hunter2@registry.example.com/v2/",
        "https://bob:REDACTED@registry.example.com/v2/",
    ),
    (
        "proxy http://svc-user:p%40ss@10.0.0.1:3128 down",
        "proxy http://svc-user:REDACTED@10.0.0.1:3128 down",
    ),
    (
        "GET https://auth.example.com/token?scope=repo%3Aa%3Apull&access_token=abc123&service=r",
        "GET https://auth.example.com/token?scope=repo%3Aa%3Apull&access_token=REDACTED&service=r",
    ),
    (
        "https://h/x?token=abc&refresh_token=def",
        "https://h/x?token=REDACTED&refresh_token=REDACTED",
    ),
    ("login with password=hunter2 ok", "login with password=REDACTED ok"),
    (
        '{"token":"abc","access_token":"def","expires_in":300,"issued_at":"2024"}',
        '{"token":"REDACTED","access_token":"REDACTED","expires_in":300,"issued_at":"2024"}',
    ),
    (
        '{"refresh_token": "r3fr3sh", "scope": "pull"}',
        '{"refresh_token": "REDACTED", "scope": "pull"}',
    ),
    ('msg="body {\\"token\\":\\"abc\\"}"', 'msg="body {\\"token\\":\\"REDACTED\\"}"'),
    (
        '{"auths":{"r.io":{"auth":"Ym9iOmh1bnRlcjI=","email":"b@x"}}}',
        '{"auths":{"r.io":{"auth":"REDACTED","email":"b@x"}}}',
    ),
    ('{"username":"bob","password":"hunter2"}', '{"username":"bob","password":"REDACTED"}'),
    ("skopeo --creds bob:hunter2 inspect", "skopeo --creds bob:REDACTED inspect"),
    (
        "proxy http://svc-user:p@ss@10.0.0.1:3128 down",  # an unencoded @ in the password
        "proxy http://svc-user:REDACTED@10.0.0.1:3128 down",
    ),
    ("$ podman login -u bob -p hunter2 quay.io", "$ podman login -u bob -p REDACTED quay.io"),
    ("podman login --password=s3cret r.io", "podman login --password=REDACTED r.io"),
    (
        "skopeo copy --src-creds a:b --dest-password x --registry-token t docker://a",
        "skopeo copy --src-creds a:REDACTED --dest-password REDACTED --registry-token "
        "REDACTED docker://a",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"reading manifest {D} in 127.0.0.1:5104/mirror/hello: unauthorized: "
        "authentication required",
        f"quay.io/team/app@{D} and docker://user@sha256:abc",
        'WWW-Authenticate: Bearer realm="https://auth.example.com/token",service="registry"',
        "unable to retrieve auth token: invalid username/password: unauthorized: incorrect",
        "Looking for TLS certificates and private keys in /etc/docker/certs.d/h:5000",
        'Get "https://quay.io/v2/auth?scope=repository%3Ax%3Apull&service=quay.io": EOF',
        "ssh -p 22 core@node-1 and mail b@x.example",
        "http://proxy.example:3128/ and https://h/x@y",
    ],
)
def test_redact_keeps_ordinary_text(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_texts_need_no_redaction(name: str) -> None:
    text = read_fixture(name)
    assert redact(text) == text


# --- issue 10 §4: more shapes, the node's own secrets as exact values, trimming ----------


MORE_CASES = [
    ("Set-Cookie: session=abc123; Path=/", "Set-Cookie: REDACTED"),
    ("cookie: a=b; c=d", "cookie: REDACTED"),
    ("map[Set-Cookie:[sid=xyz; HttpOnly] X:[y]]", "map[Set-Cookie:[REDACTED] X:[y]]"),
    (
        "https://s3.example/o?X-Amz-Algorithm=A&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ab",
        "https://s3.example/o?X-Amz-Algorithm=A&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED",
    ),
    (
        "https://g.example/b?X-Goog-Signature=dead&x=1",
        "https://g.example/b?X-Goog-Signature=REDACTED&x=1",
    ),
    ("https://a.example/c?sv=1&sig=abc%3D&se=2", "https://a.example/c?sv=1&sig=REDACTED&se=2"),
    (
        "https://cdn/x?Signature=abc&Key-Pair-Id=K",
        "https://cdn/x?Signature=REDACTED&Key-Pair-Id=K",
    ),
    ("token ghp_" + "a1" * 18 + " end", "token REDACTED end"),
    ("github_pat_" + "A_" * 15, "REDACTED"),
    ("glpat-" + "x" * 20, "REDACTED"),
    (f"jwt {JWT} ok", "jwt REDACTED ok"),
    ("body: dXNlcjpwYXNzd29yZA== was echoed", "body: REDACTED was echoed"),
    ("unpadded dXNlcjpwYXNzd29yZA here", "unpadded REDACTED here"),
]


@pytest.mark.parametrize(("text", "expected"), MORE_CASES)
def test_redact_more_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        "registries manifest blobs uploads 0123456789abcdef",
        "c29tZXRoaW5nIGVsc2U=",  # base64 of "something else": no user:password
        "Cookies are documented in RFC 6265",
    ],
)
def test_redact_more_keeps_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_redactor_replaces_the_node_secrets_in_every_spelling() -> None:
    redactor = Redactor.of(["robot", 'p@ss"w0rd', "abc", "cm9ib3Q6cEBzcyJ3MHJk"])
    text = (
        'user robot, password p@ss"w0rd, json "p@ss\\"w0rd", url p%40ss%22w0rd, '
        "auth cm9ib3Q6cEBzcyJ3MHJk, short abc"
    )
    cleaned = redactor(text)
    for secret in ("robot", 'p@ss"w0rd', 'p@ss\\"w0rd', "p%40ss%22w0rd", "cm9ib3Q6"):
        assert secret not in cleaned
    assert "short abc" in cleaned  # shorter than MIN_SECRET_LENGTH: left to the patterns
    assert "robot" not in repr(redactor) and MIN_SECRET_LENGTH == 4


def test_trimmed_says_how_much_was_left_out() -> None:
    assert trimmed("abc", 5) == "abc"
    assert trimmed("a" * 10, 4) == "aaaa… (6 more characters)"


# --- the guards that skip a pattern when a word it needs is missing ----------------------

NON_ASCII = "\n\u00e9"  # a non-ASCII text runs every pattern, unguarded


@pytest.mark.parametrize(
    "text",
    [text for text, _ in CASES + MORE_CASES]
    + [read_fixture(name) for name in fixture_names()]
    + ["x-amz-signature=s3cret", "Authorization: token abcdefgh12345678"],
)
def test_the_guards_never_skip_a_pattern_that_matches(text: str) -> None:
    assert redact(text + NON_ASCII) == redact(text) + NON_ASCII


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u017fecret=abc", "\u017fecret=REDACTED"),  # the long s folds to "s"
        ("AUTHORİZATION: Bearer abcdefgh123", "AUTHORİZATION: Bearer REDACTED"),
    ],
)
def test_non_ascii_spellings_are_still_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected
