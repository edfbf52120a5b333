"""What the container runtime on the node pulls with, read from the node's own files.

CRI-O pulls with the node's global pull secret (the kubelet's ``config.json``), the proxy
variables of ``/etc/mco/proxy.env``, and into the image store storage.conf names
(docs/pull-resolution.md §6); that store's image list is read here too. Nothing here runs
a command or writes a file.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

from agent.documents import DocumentError, parse_json
from agent.errors import CheckEnvironmentError
from agent.node.paths import AUTH_FILE, NODE_STORE, PROXY_ENV_FILE, STORAGE_CONF, HostRoot
from agent.safe_read import (
    AUTH_FILE_LIMIT,
    NODE_SETTING_LIMIT,
    STORE_LISTING_LIMIT,
    UnsafeFile,
    read_bytes,
    read_text,
)

__all__ = [
    "PROXY_VARIABLES",
    "NodeSettings",
    "find_auth_file",
    "parse_proxy_env",
    "read_graphroot",
    "read_proxy_env",
    "read_store_images",
]

PROXY_VARIABLES = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
)

_PROXY_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_proxy_env(text: str) -> dict[str, str]:
    """The proxy variables of an ``/etc/mco/proxy.env`` (systemd EnvironmentFile syntax).

    ``KEY=VALUE`` lines; blank lines and ``#``/``;`` comments are skipped; an ``export``
    prefix and single or double quotes around the value are tolerated. Only
    ``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY`` and their lower-case forms are kept;
    empty values are dropped (Go treats them as unset).
    """
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _PROXY_LINE.match(line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2).strip()
        quote = value[:1]
        if len(value) >= 2 and quote in ("'", '"') and value.endswith(quote):
            value = value[1:-1]
            if quote == '"':
                value = re.sub(r"\\(.)", r"\1", value)
        if key in PROXY_VARIABLES and value:
            found[key] = value
    return found


def find_auth_file(host: HostRoot) -> Optional[str]:
    """The node path of CRI-O's global pull secret when the node has one, else None."""
    return AUTH_FILE if host.resolve(AUTH_FILE).is_file() else None


def _read_node_file(path: Path, limit: int) -> Optional[str]:
    """A node file's text (None when absent); refused or unreadable: the node's fault."""
    try:
        return read_text(path, limit=limit, missing_ok=True)
    except UnsafeFile as exc:
        raise CheckEnvironmentError(f"cannot read the node's {exc.message}") from None


def read_proxy_env(host: HostRoot) -> dict[str, str]:
    """The proxy variables of the node's proxy.env; none when it has no such file. A
    byte that is not UTF-8 is replaced (systemd reads bytes; the values are ASCII)."""
    try:
        data = read_bytes(host.resolve(PROXY_ENV_FILE), limit=NODE_SETTING_LIMIT, missing_ok=True)
    except UnsafeFile as exc:
        raise CheckEnvironmentError(
            f"cannot read the node's proxy settings {exc.message}"
        ) from None
    return parse_proxy_env((data or b"").decode("utf-8", errors="replace").lstrip("\ufeff"))


def read_graphroot(host: HostRoot) -> str:
    """The node path of the node's image store: storage.conf's graphroot, else the
    default (RHCOS keeps the default)."""
    conf_path = host.resolve(STORAGE_CONF)
    text = _read_node_file(conf_path, NODE_SETTING_LIMIT)
    if text is None:
        return NODE_STORE
    try:
        conf = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CheckEnvironmentError(f"cannot read the node's {conf_path}: {exc}") from None
    except RecursionError:
        raise CheckEnvironmentError(
            f"cannot read the node's {conf_path}: arrays or tables nested too deeply"
        ) from None
    storage = conf.get("storage") if isinstance(conf.get("storage"), dict) else {}
    graphroot = storage.get("graphroot")
    return graphroot if isinstance(graphroot, str) and graphroot.startswith("/") else NODE_STORE


def read_store_images(host: HostRoot) -> list[dict[str, Any]]:
    """The image records of the node's own store, read from containers/storage's
    ``<graphroot>/<driver>-images/images.json`` (written atomically; read here without
    its lock). Nothing runs: ``podman images`` would set up podman's runtime in CRI-O's
    store (its database, and a network backend pinned to CNI when images exist).
    """
    records: list[dict[str, Any]] = []
    store = host.resolve(read_graphroot(host))
    for listing in sorted(store.glob("*-images/images.json")):
        text = _read_node_file(listing, STORE_LISTING_LIMIT) or "[]"
        try:
            document = parse_json(text, f"the node's {listing}")
        except DocumentError as exc:
            raise CheckEnvironmentError(f"cannot read {exc}") from None
        if isinstance(document, list):
            records += [item for item in document if isinstance(item, dict)]
    return records


def read_pull_secret_values(host: HostRoot, auth_file: Optional[str]) -> list[str]:
    """Every credential in the node's pull secret: per registry the ``auth`` value, the
    ``user:password`` it encodes, the user and the password, identity and registry
    tokens. For redaction only; an unreadable or malformed file yields none (podman then
    sends no credentials either)."""
    if auth_file is None:
        return []
    try:
        text = read_text(host.resolve(auth_file), limit=AUTH_FILE_LIMIT, missing_ok=True)
        document = parse_json(text or "{}", auth_file)
    except (UnsafeFile, DocumentError):
        return []
    auths = document.get("auths") if isinstance(document, dict) else None
    values: list[str] = []
    for entry in auths.values() if isinstance(auths, dict) else []:
        if not isinstance(entry, dict):
            continue
        for key in ("auth", "username", "password", "identitytoken", "registrytoken"):
            if isinstance(entry.get(key), str):
                values.append(entry[key])
        if isinstance(entry.get("auth"), str):
            values += decoded_auth(entry["auth"])
    return values


def decoded_auth(auth: str) -> list[str]:
    """``user:password``, the user and the password of a base64 ``auth`` value."""
    try:
        pair = base64.b64decode(auth, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    user, colon, password = pair.partition(":")
    return [pair, user, password] if colon else [pair]


def proxy_secret_values(proxy_env: dict[str, str]) -> list[str]:
    """The user info of the proxy URLs (as written and percent-decoded), and the base64
    ``user:password`` a Proxy-Authorization header would carry."""
    values: list[str] = []
    for url in proxy_env.values():
        userinfo = urlsplit(url if "://" in url else f"http://{url}").netloc.rpartition("@")
        if not userinfo[1]:
            continue
        raw = userinfo[0]
        for pair in {raw, unquote(raw)}:
            user, _, password = pair.partition(":")
            values += [pair, user, password, base64.b64encode(pair.encode()).decode()]
    return [value for value in values if value]


@dataclass(frozen=True)
class NodeSettings:
    """What the container runtime on this node pulls with (docs/pull-resolution.md §6)."""

    host_root: Path
    """The node's ``/`` as the agent sees it: ``/`` or e.g. ``/host``."""
    auth_file: Optional[str]
    """Node path of CRI-O's global pull secret when the node has one, else None."""
    proxy_env: dict[str, str] = field(default_factory=dict, repr=False)
    """Proxy variables from the node's ``/etc/mco/proxy.env``."""
    pull_secret_values: tuple[str, ...] = field(default=(), repr=False)
    """The credentials of the node's pull secret (:func:`read_pull_secret_values`)."""

    def secret_values(self) -> tuple[str, ...]:
        """The node's own credentials, which every report and log line is cleared of
        (``Redactor.of(settings.secret_values())``; agent.pull sits above agent.node)."""
        return (*self.pull_secret_values, *proxy_secret_values(self.proxy_env))

    @classmethod
    def detect(cls, host_root: Path) -> NodeSettings:
        root = Path(host_root).absolute()
        if not root.is_dir():
            raise CheckEnvironmentError(
                f"the host root {root} is not a directory",
                hint="mount the node's / (hostPath) and pass it with --host-root",
            )
        host = HostRoot(root)
        auth_file = find_auth_file(host)
        return cls(
            host_root=root,
            auth_file=auth_file,
            proxy_env=read_proxy_env(host),
            pull_secret_values=tuple(read_pull_secret_values(host, auth_file)),
        )
