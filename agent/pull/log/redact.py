"""Credentials out of any text the agent keeps or shows: ``REDACTED`` in their place."""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact"]

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
_QUERY_SECRET = re.compile(
    r"(?i)(?<![\w-])(password|passwd|token|access_token|refresh_token|id_token"
    r"|identitytoken|registrytoken|client_secret|secret)=([^&\s\"'\\,;]+)"
)
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


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``REDACTED``; everything else left readable.

    Covers ``Authorization``/``Proxy-Authorization``/``X-Registry-Auth`` header values
    (``Basic``/``Bearer`` schemes kept), bare ``Bearer``/``Basic`` credentials, secrets in
    query strings (``password=``, ``token=``, ``access_token=``, ``refresh_token=`` …) and
    in JSON (``"password"``, ``"token"``, ``"auth"`` …, also with ``\\"`` escaped quotes),
    ``user:password@`` in URLs (up to the last ``@`` before the host), and on pasted
    command lines ``--creds user:password``, ``--password``, ``--registry-token`` (also their
    ``--src-``/``--dest-`` forms) and ``podman login … -p``.
    """
    if not text:
        return text
    text = _HEADER.sub(_redact_header, text)
    text = _SCHEME_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _JSON_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + "=" + REDACTED, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _CREDS_FLAG.sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRET_FLAG.sub(lambda m: m.group(1) + REDACTED, text)
