"""The class of a failed attempt (one of ``REASONS``), read from its error text."""

from __future__ import annotations

import re

from agent.pull.log.error_sources import parse_error_sources
from agent.pull.log.model import Reason

__all__ = ["classify_failure"]

_DNS = re.compile(
    r"no such host|server misbehaving|temporary failure in name resolution"
    r"|name or service not known|no address associated with hostname"
    r"|\blookup \S+ on \S+:53\b|\bdial (?:tcp|udp)[46]?: lookup "
    r"|\blookup \S+: (?:i/o timeout|read |dial |write )"
)
_TIMEOUT = re.compile(
    r"i/o timeout|tls handshake timeout|context deadline exceeded|client\.timeout"
    r"|deadline exceeded|timeout awaiting response headers|connection timed out"
    r"|operation timed out"
)
_TLS = re.compile(r"x509|certificate|\btls:")
# A dotted lower-case host (or IP) with its repository path; its port stays (`lookup h on
# ip:53`). Case-sensitive: Go's own dotted words (`Client.Timeout`) are capitalised.
_LOCATION = re.compile(r"\b(?:[a-z0-9-]+\.)+[a-z0-9-]+(?P<port>:\d+)?(?P<path>/[^\s\"',;]*)?")


def _masked_location(match: re.Match[str]) -> str:
    return "HOST" if match.group("path") else "HOST" + (match.group("port") or "")


_UNAUTHORIZED = re.compile(
    r"unauthorized|authentication required|invalid username/password"
    r"|incorrect username or password|unable to retrieve auth token"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*401\b"
    r"|\b401 \(?unauthorized"
)
_FORBIDDEN = re.compile(
    r"forbidden|(?<!permission )\bdenied\b"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*403\b"
)
_MANIFEST_UNKNOWN = re.compile(
    r"manifest unknown|name unknown|manifest_unknown|name_unknown"
    r"|repository name not known to registry"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*404\b"
    r"|\b404 \(?not found"
)


def classify_failure(message: str) -> Reason:
    """The class (one of ``REASONS``) of an ``Accessing "R" failed: …`` error text.

    Case-insensitive; knows podman 4.3 wording and newer/older variants (4.4+ un-doubled
    errcodes, Go ≥1.20 ``tls: failed to verify certificate:``, 5.5+ ``received unexpected
    HTTP status:``, pre-2021 ``Error reading manifest``/``error pinging docker registry``).
    Given a whole ``(Mirrors also failed: …): PRIMARY: E`` error, classifies E.
    """
    sources = parse_error_sources(message) if "Mirrors also failed" in message else ()
    if sources:
        message = sources[-1][1]
    # Host names and repository paths are not the error: a registry called
    # certificate-mirror.example or a repository team/access-denied must not decide it.
    text = _LOCATION.sub(_masked_location, message).lower()
    if "is blocked in" in text:
        return "blocked"
    if "server gave http response to https client" in text:
        return "http-to-https"
    if _DNS.search(text):  # before timeout/refused: a DNS lookup can time out or be refused
        return "dns"
    if "connection refused" in text:
        return "connection-refused"
    if _TIMEOUT.search(text):  # before tls: "net/http: TLS handshake timeout"
        return "timeout"
    if _TLS.search(text):
        return "tls"
    if _UNAUTHORIZED.search(text):
        return "unauthorized"
    if _FORBIDDEN.search(text):
        return "forbidden"
    if _MANIFEST_UNKNOWN.search(text) or ("reading manifest" in text and "not found" in text):
        return "manifest-unknown"
    return "other"
