"""The class of a failed attempt (one of ``REASONS``), read from its error text."""

from __future__ import annotations

import re
from typing import Optional

from agent.pull.log.decor import CUT_MARK
from agent.pull.log.error_sources import parse_error_sources
from agent.pull.log.model import Reason

__all__ = ["classify_failure", "retry_after"]

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
# ip:53`). Case-sensitive: Go's own dotted words (`Client.Timeout`) are capitalised. Labels
# are at most 63 characters (as in DNS): unbounded ones made a long hyphenated word cost
# time quadratic in its length.
_LOCATION = re.compile(
    r"\b(?:[a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}(?P<port>:\d{1,5})?(?P<path>/[^\s\"',;]*)?"
)
# An error text longer than this is classified by its start and its end (where c/image puts
# the cause): the bound keeps every pattern's work small whatever was pasted.
_CLASSIFIED_CHARS = 8192


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
# 429: c/image's own `too many requests to registry` (ErrTooManyRequests, from a ping or a
# token request), a registry's TOOMANYREQUESTS errcode (`toomanyrequests: You have reached
# your pull rate limit…`), c/image ≥5.35 `received unexpected HTTP status: 429 Too Many …`.
_RATE_LIMITED = re.compile(
    r"toomanyrequests|too many requests|rate limit"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*429\b"
)
# The /v2/ ping answered 404: the endpoint is no registry (a repository manager without its
# Docker connector, a web server, a wrong port or path); no manifest was asked for.
# c/image: `pinging container registry H: invalid status code from registry 404 (Not
# Found)`; ≥5.35 `…: received unexpected HTTP status: 404 Not Found`; with an HTML body
# `…: StatusCode: 404, "<html>…"`; before 5.14 `error pinging docker registry H: …`.
_PING_404 = re.compile(
    r"pinging (?:container|docker) registry(?: returned)?\b[^\n]{0,2000}?"
    r"(?:(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*404\b"
    r"|\b404 \(?not found)"
)
_V1_ONLY = "can't talk to a v1 container registry"
_RETRY_AFTER = re.compile(r"(?i)retry[- ]after\W{0,3}([\w:., -]{1,40}?)(?=[\s\]\);,\"]|\Z)")
_MANIFEST_UNKNOWN = re.compile(
    r"manifest unknown|name unknown|manifest_unknown|name_unknown"
    r"|repository name not known to registry"
    r"|(?:status(?: code)?(?: from registry)?|http status|code)\s*[:=]?\s*404\b"
    r"|\b404 \(?not found|http 404 response"
)


def classify_failure(message: str) -> Reason:
    """The class (one of ``REASONS``) of an ``Accessing "R" failed: …`` error text.

    Case-insensitive; knows podman 4.3 wording and newer/older variants (4.4+ un-doubled
    errcodes, Go ≥1.20 ``tls: failed to verify certificate:``, 5.5+ ``received unexpected
    HTTP status:``, pre-2021 ``Error reading manifest``/``error pinging docker registry``).
    Given a whole ``(Mirrors also failed: …): PRIMARY: E`` error, classifies E.
    ``unknown`` when the text shows no reason (empty, or cut before any: a ``systemctl
    status`` line); ``other`` when it shows one this table does not know.
    """
    sources = parse_error_sources(message) if "Mirrors also failed" in message else ()
    if sources:
        message = sources[-1][1]
    if len(message) > _CLASSIFIED_CHARS:
        half = _CLASSIFIED_CHARS // 2
        message = message[:half] + "\n" + message[-half:]
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
    if _RATE_LIMITED.search(text):
        return "rate-limited"
    if _PING_404.search(text) or _V1_ONLY in text:
        return "not-a-registry"
    if _UNAUTHORIZED.search(text):
        return "unauthorized"
    if _FORBIDDEN.search(text):
        return "forbidden"
    if "requesting bearer token" in text:
        # the token endpoint (its realm) answered oddly: nothing about the manifest
        return "unknown" if text.endswith(CUT_MARK) else "other"
    if _MANIFEST_UNKNOWN.search(text) or ("reading manifest" in text and "not found" in text):
        return "manifest-unknown"
    if not text.strip() or text.endswith(CUT_MARK):
        return "unknown"  # no reason shown, or the text stops before it: no guess
    return "other"


def retry_after(message: str) -> Optional[str]:
    """The wait a rate-limited registry asked for (``Retry-After: 60``), when the text
    shows one."""
    match = _RETRY_AFTER.search(message)
    return match.group(1).strip() if match else None
