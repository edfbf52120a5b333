"""Credentials out of any text the agent keeps or shows: ``REDACTED`` in their place."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor", "redact", "trimmed"]

REDACTED = "REDACTED"

_TOKEN_CHARS = r"[A-Za-z0-9+/=._~-]"
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-registry-auth)"  # header name
    r"(\\?[\"']?\s*[:=]\s*(?:\[\s*)?\\?[\"']?\s*)"  # separator: `: `, `":"`, `:[`
    r"(?:((?:basic|bearer|negotiate|digest|token)\s+)([^\s\"'\\\],;]+)"  # scheme + value
    rf"|({_TOKEN_CHARS}{{8,}}))"  # or a bare credential-looking value
)
_SCHEME_VALUE = re.compile(rf"(?i)\b(bearer|basic)(\s+)({_TOKEN_CHARS}{{8,}})")
_JSON_SECRET = re.compile(
    r"(?i)(\\?\"(?:password|passwd|token|access_token|refresh_token|id_token|identitytoken"
    r"|identity_token|registrytoken|registry_token|auth|secret|client_secret)\\?\"\s*:\s*\\?\")"
    r"([^\"\\]+)"
)
_JSON_WORDS = ("passw", "token", "auth", "secret")  # what every _JSON_SECRET key contains
# Also the signatures and credentials of presigned blob URLs (S3, GCS, Azure SAS), which
# registries redirect to and whose errors quote.
_QUERY_SECRET = re.compile(
    r"(?i)(?<![\w-])(password|passwd|token|access_token|refresh_token|id_token"
    r"|identitytoken|registrytoken|client_secret|secret|x-amz-credential|x-amz-signature"
    r"|x-amz-security-token|x-goog-credential|x-goog-signature|sig|signature)"
    r"=([^&\s\"'\\,;]+)"
)
# every key above ends with one of these, then "="
_QUERY_WORDS = ("password=", "passwd=", "token=", "secret=", "credential=", "signature=", "sig=")
# Cookie and Set-Cookie headers: a session is as good as a password.
_COOKIE = re.compile(
    r"(?i)\b((?:set-)?cookie)"
    r"(\\?[\"']?\s*[:=]\s*(?:\[\s*)?\\?[\"']?\s*)"
    r"([^\n\"'\\\]]+)"
)
# Tokens recognisable by their shape wherever they appear: GitHub and GitLab personal
# access tokens, and JWTs (header and payload both start with base64 of '{"').
_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*)"
)
_TOKEN_MARKS = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "eyJ")
# A bare base64 word, a candidate for an encoded ``user:password``.
_BASE64_WORD = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=_-])")
_USER_PASSWORD = re.compile(r"[!-9;-~]+:[ -~]+")  # printable ASCII, a colon after the user
# The password ends at the last "@" before the host (an unencoded "@" in it is common).
_URL_USERINFO = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^/\s:@\"'\\]+:)([^/\s\"'\\]+)@(?=[^@/\s\"'\\]*(?:[/\s\"'\\]|$))"
)
# Command lines pasted with a log: skopeo/podman --creds, --password, --registry-token
# (also --src-/--dest- forms) and `podman login … -p`.
_CREDS_FLAG = re.compile(r"(--(?:src-|dest-)?creds[= ]+[^:\s]+:)(\S+)")
_SECRET_FLAG = re.compile(
    r"((?:--(?:src-|dest-)?(?:password|registry-token)|(?<=\blogin\b)[^\n]*?\s-p)[= ]+)(\S+)"
)


def _redact_header(match: re.Match[str]) -> str:
    if match.group(3) is not None:
        return match.group(1) + match.group(2) + match.group(3) + REDACTED
    return match.group(1) + match.group(2) + REDACTED


_HEX = re.compile(r"[0-9a-f]+")


def _encoded_credentials(match: re.Match[str]) -> str:
    word = match.group()
    bare = word.rstrip("=")
    # digests and blobs are the common words; a length of 4n+1 is never base64
    if len(bare) % 4 == 1 or len(word) > 1024 or _HEX.fullmatch(word):
        return word
    try:  # padding is often dropped (JSON, URL-safe tokens)
        raw = base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True)
    except (binascii.Error, ValueError):
        return word
    if b":" not in raw:
        return word
    try:
        decoded = raw.decode("ascii")
    except UnicodeDecodeError:
        return word
    return REDACTED if _USER_PASSWORD.fullmatch(decoded) else word


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``REDACTED``; everything else left readable.

    Covers ``Authorization``/``Proxy-Authorization``/``X-Registry-Auth`` header values
    (``Basic``/``Bearer`` schemes kept), bare ``Bearer``/``Basic`` credentials, secrets in
    query strings (``password=``, ``token=``, ``access_token=``, ``refresh_token=`` …) and
    in JSON (``"password"``, ``"token"``, ``"auth"`` …, also with ``\\"`` escaped quotes),
    ``user:password@`` in URLs (up to the last ``@`` before the host), and on pasted
    command lines ``--creds user:password``, ``--password``, ``--registry-token`` (also their
    ``--src-``/``--dest-`` forms) and ``podman login … -p``; ``Cookie``/``Set-Cookie``
    values, presigned URL signatures (``X-Amz-Signature``, ``X-Amz-Credential``,
    ``X-Goog-Signature``, ``sig=``, ``Signature=``), GitHub/GitLab tokens and JWTs
    wherever they are, and a bare base64 word that decodes to ``user:password``.
    """
    if not text:
        return text
    # Cheap guards: a pattern runs only where a word it needs is in the text (most logs
    # hold none of them). A guard is implied by its pattern, and the substitutions only
    # put REDACTED (none of these words) in place of a value, so a word missing before
    # them is missing after. Outside ASCII, case-insensitive matching also folds other
    # letters (the long s matches "s"): every pattern runs.
    lowered = text.lower() if text.isascii() else None

    def may_hold(*words: str) -> bool:
        return lowered is None or any(word in lowered for word in words)

    if may_hold("authorization", "x-registry-auth"):
        text = _HEADER.sub(_redact_header, text)
    if may_hold("cookie"):
        text = _COOKIE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    if any(mark in text for mark in _TOKEN_MARKS):
        text = _TOKEN_SHAPES.sub(REDACTED, text)
    if may_hold("bearer", "basic"):
        text = _SCHEME_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    if '"' in text and may_hold(*_JSON_WORDS):
        text = _JSON_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    if may_hold(*_QUERY_WORDS):
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + "=" + REDACTED, text)
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    if "creds" in text:  # _CREDS_FLAG and _SECRET_FLAG match case-sensitively
        text = _CREDS_FLAG.sub(lambda m: m.group(1) + REDACTED, text)
    if "password" in text or "registry-token" in text or "login" in text:
        text = _SECRET_FLAG.sub(lambda m: m.group(1) + REDACTED, text)
    return _BASE64_WORD.sub(_encoded_credentials, text)


#: Exact values shorter than this are not replaced: a 3-letter user name would blank out
#: every word that contains it. The patterns of :func:`redact` still apply.
MIN_SECRET_LENGTH = 4


def _spellings(value: str) -> set[str]:
    """The ways a secret shows up in a log or a report: as is, JSON-escaped, URL-encoded."""
    encoded = "".join(
        char if char.isascii() and (char.isalnum() or char in "-._~") else _percent(char)
        for char in value
    )
    return {value, json.dumps(value)[1:-1], encoded}


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode())


@dataclass(frozen=True)
class Redactor:
    """:func:`redact`, and before it the node's own secrets (its pull secret's users,
    passwords, ``auth`` values and tokens, its proxy's user info) replaced wherever they
    appear, whatever the pattern around them. Built from
    :meth:`agent.node.settings.NodeSettings.secret_values`."""

    secrets: tuple[str, ...] = ()  # longest first: a password inside its base64 pair...

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        spellings: set[str] = set()
        for value in values:
            if len(value) >= MIN_SECRET_LENGTH:
                spellings |= _spellings(value)
        return cls(tuple(sorted(spellings, key=lambda text: (-len(text), text))))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact(text)

    def __repr__(self) -> str:  # never print the values
        return f"Redactor({len(self.secrets)} secrets)"


def trimmed(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out (error bodies a
    registry sends can be megabytes of HTML)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
