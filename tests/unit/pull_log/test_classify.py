"""agent.pull.log.classify: the class of a failure from its error text, old and new wordings."""

from __future__ import annotations

import pytest

from agent.pull.log.classify import classify_failure
from agent.pull.log.model import REASONS
from tests.unit.pull_log.recorded import D

H = "registry.example.com"
CLASSIFY = [
    # podman 4.3 wording (the fixtures)
    (
        f'pinging container registry {H}: Get "http://{H}/v2/": dial tcp 10.0.0.1:5000: '
        "connect: connection refused",
        "connection-refused",
    ),
    (
        f'pinging container registry {H}: Get "http://{H}/v2/": dial tcp: lookup {H} on '
        "192.0.2.53:53: no such host",
        "dns",
    ),
    (
        f'pinging container registry {H}: Get "http://{H}/v2/": '
        "dial tcp 10.0.0.1:5000: i/o timeout",
        "timeout",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": net/http: TLS handshake timeout',
        "timeout",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": x509: certificate signed by '
        "unknown authority",
        "tls",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": http: server gave HTTP response '
        "to HTTPS client",
        "http-to-https",
    ),
    (f"reading manifest {D} in {H}/r: unauthorized: authentication required", "unauthorized"),
    (f"reading manifest {D} in {H}/r: denied", "forbidden"),
    (
        f"pinging container registry {H}: invalid status code from registry 403 (Forbidden)",
        "forbidden",
    ),
    (f"reading manifest {D} in {H}/r: manifest unknown: manifest unknown", "manifest-unknown"),
    (
        f"registry {H}/r is blocked in /etc/containers/registries.conf or "
        "/root/.config/containers/registries.conf.d",
        "blocked",
    ),
    # podman 4.4+ / 5.x (c/image ≥5.24): errcodes no longer doubled
    (f"reading manifest {D} in {H}/r: manifest unknown", "manifest-unknown"),
    (f"reading manifest {D} in {H}/r: authentication required", "unauthorized"),
    (
        f"reading manifest v1 in {H}/r: name unknown: repository name not known to registry",
        "manifest-unknown",
    ),
    (
        f"reading manifest v1 in {H}/r: denied: requested access to the resource is denied",
        "forbidden",
    ),
    # Go ≥1.20 builds (RHEL 9.4+)
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": tls: failed to verify '
        "certificate: x509: certificate signed by unknown authority",
        "tls",
    ),
    (
        f'pinging container registry {H}: Get "https://{H}/v2/": tls: failed to verify '
        f"certificate: x509: certificate is valid for other.example.com, not {H}",
        "tls",
    ),
    # c/image ≥5.35 (podman 5.5+)
    (
        f"pinging container registry {H}: received unexpected HTTP status: 403 Forbidden",
        "forbidden",
    ),
    (
        f"reading manifest {D} in {H}/r: received unexpected HTTP status: 401 Unauthorized",
        "unauthorized",
    ),
    (
        f"reading manifest {D} in {H}/r: received unexpected HTTP status: 404 Not Found",
        "manifest-unknown",
    ),
    (
        f"pinging container registry {H}: received unexpected HTTP status: 503 Service Unavailable",
        "other",
    ),
    # pre-2021 builds (c/image <5.14)
    (
        f"Error reading manifest {D} in {H}/r: manifest unknown: manifest unknown",
        "manifest-unknown",
    ),
    (
        f"error pinging docker registry {H}: Get https://{H}/v2/: dial tcp 10.0.0.1:443: "
        "connect: connection refused",
        "connection-refused",
    ),
    (
        f"error pinging docker registry {H}: invalid status code from registry 403 (Forbidden)",
        "forbidden",
    ),
    (
        f"Error reading manifest latest in {H}/r: unauthorized: authentication required",
        "unauthorized",
    ),
    # DNS variants, including a lookup that times out or is refused
    (f"dial tcp: lookup {H}: no such host", "dns"),  # cgo resolver: no "on …"
    (f"dial tcp: lookup {H} on 10.0.0.10:53: server misbehaving", "dns"),
    (
        f"dial tcp: lookup {H} on 10.0.0.10:53: read udp 10.0.0.5:41000->10.0.0.10:53: i/o timeout",
        "dns",
    ),
    (
        f"dial tcp: lookup {H} on 10.0.0.10:53: read udp 10.0.0.5:41000->10.0.0.10:53: read: "
        "connection refused",
        "dns",
    ),
    (f"dial tcp: lookup {H}: Temporary failure in name resolution", "dns"),
    # timeouts
    ("context deadline exceeded", "timeout"),
    (
        f'Get "https://{H}/v2/": net/http: request canceled while waiting for connection '
        "(Client.Timeout exceeded while awaiting headers)",
        "timeout",
    ),
    ("dial tcp 10.0.0.1:443: connect: connection timed out", "timeout"),
    # TLS variants
    ("x509: certificate has expired or is not yet valid: current time 2030-01-01", "tls"),
    ("remote error: tls: handshake failure", "tls"),
    ('Get "https://h/v2/": tls: first record does not look like a TLS handshake', "tls"),
    # auth
    (
        "unable to retrieve auth token: invalid username/password: unauthorized: incorrect "
        "username or password",
        "unauthorized",
    ),
    ("unauthorized: access to the requested resource is not authorized", "unauthorized"),
    # other
    ("too many requests to registry", "rate-limited"),  # c/image's 429 (issue 18)
    ("read tcp 10.0.0.5:4000->10.0.0.1:443: read: connection reset by peer", "other"),
    ("open /etc/docker/certs.d/h/client.key: permission denied", "other"),
    ("", "unknown"),  # no reason shown: no guess (issue 18)
    ("unexpected EOF", "other"),
    # case-insensitive
    ("DIAL TCP 1.2.3.4:5: CONNECT: CONNECTION REFUSED", "connection-refused"),
    ("Reading Manifest X In Y: MANIFEST UNKNOWN", "manifest-unknown"),
    # names are not the error: hosts and repositories that read like one
    (
        "reading manifest sha256:abc in 127.0.0.1:5000/team/access-denied-x: manifest unknown",
        "manifest-unknown",
    ),
    (
        'pinging container registry certificate-mirror.example.com: Get "https://'
        'certificate-mirror.example.com/v2/": dial tcp 10.0.0.1:443: connect: connection refused',
        "connection-refused",
    ),
    (
        "reading manifest latest in timeout.example/forbidden/unauthorized: "
        "received unexpected HTTP status: 500 Internal Server Error",
        "other",
    ),
    # a whole `(Mirrors also failed: …): PRIMARY: E` error: E decides
    (
        "initializing source docker://h.io/a:v1: (Mirrors also failed: [m.io/a:v1: "
        "dial tcp 1.2.3.4:5: connect: connection refused]): h.io/a:v1: registry h.io/a is "
        "blocked in /etc/containers/registries.conf",
        "blocked",
    ),
]


@pytest.mark.parametrize(("message", "reason"), CLASSIFY)
def test_classify_failure(message: str, reason: str) -> None:
    assert reason in REASONS
    assert classify_failure(message) == reason


def test_reasons_are_the_published_tuple() -> None:
    assert REASONS == (
        "connection-refused",
        "dns",
        "tls",
        "timeout",
        "unauthorized",
        "forbidden",
        "manifest-unknown",
        "blocked",
        "http-to-https",
        "rate-limited",
        "not-a-registry",
        "digest-mismatch",
        "other",
        "unknown",
    )


def test_a_word_with_a_label_longer_than_dns_allows_is_no_host_name() -> None:
    # DNS labels have at most 63 characters: a longer dotted word is error text, not a
    # registry name to mask (the bound also keeps the host pattern linear on long words).
    label = "x509-" + "a" * 60
    assert classify_failure(f"reading {label}.example.com/repo: something odd") == "tls"
    assert classify_failure(f"reading x509-{'a' * 50}.example.com/repo: something odd") == "other"


def test_only_the_start_and_end_of_a_huge_error_text_are_classified() -> None:
    # c/image puts the cause at the end; what lies beyond the first and last 4 KB of a
    # pasted monster line is not read (so no pattern does unbounded work on it).
    filler = "a-" * 20_000
    assert classify_failure(f"{filler} connection refused {filler}") == "other"
    assert classify_failure(f"{filler}: dial tcp 10.0.0.1:443: connect: connection refused") == (
        "connection-refused"
    )
    assert classify_failure(f"pinging container registry h.example: {filler}") == "other"
