"""Which proxy reaches the API server, as kubectl chooses it.

A cluster's ``proxy-url`` wins. Otherwise the environment, read as Go's
``http.ProxyFromEnvironment`` reads it: ``HTTPS_PROXY``/``https_proxy`` for an https
server (``HTTP_PROXY`` for http), a value without a scheme meaning ``http://``, nothing
for ``localhost`` and loopback addresses, and ``NO_PROXY``/``no_proxy`` a comma list of
``*``, IP addresses, CIDR ranges and domain names (``example.com`` also covers its
subdomains, ``.example.com`` only them), each perhaps with a ``:port``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Optional
from urllib.parse import urlsplit

#: proxy-url schemes client-go accepts
PROXY_SCHEMES = ("http", "https", "socks5")


def _env(env: Mapping[str, str], name: str) -> str:
    return env.get(name.upper()) or env.get(name.lower()) or ""


def _host_port(url: str) -> tuple[str, int]:
    split = urlsplit(url)
    host = (split.hostname or "").lower()
    port = split.port or (443 if split.scheme == "https" else 80)
    return host, port


def _no_proxy_matches(entry: str, host: str, port: int) -> bool:
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    try:
        network = ipaddress.ip_network(entry, strict=False) if "/" in entry else None
    except ValueError:
        network = None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if network is not None:
        return address is not None and address in network
    entry_host, entry_port = entry, None
    if entry.startswith("["):  # [::1]:6443
        entry_host, _, rest = entry[1:].partition("]")
        entry_port = rest[1:] if rest.startswith(":") else None
    elif entry.count(":") == 1:
        entry_host, entry_port = entry.split(":")
    if entry_port and entry_port != str(port):
        return False
    try:
        entry_address = ipaddress.ip_address(entry_host)
    except ValueError:
        entry_address = None
    if entry_address is not None:
        return address == entry_address
    if entry_host.startswith("*."):
        entry_host = entry_host[1:]
    if entry_host.startswith("."):
        return host.endswith(entry_host)
    return host == entry_host or host.endswith("." + entry_host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_from_environment(server: str, env: Mapping[str, str] = os.environ) -> Optional[str]:
    """The proxy Go's ProxyFromEnvironment would choose for ``server``, or None."""
    scheme = urlsplit(server).scheme
    proxy = _env(env, "https_proxy") if scheme == "https" else _env(env, "http_proxy")
    if not proxy:
        return None
    host, port = _host_port(server)
    if _is_loopback(host):
        return None
    if any(_no_proxy_matches(entry, host, port) for entry in _env(env, "no_proxy").split(",")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def choose_proxy(
    server: str, proxy_url: Optional[str], env: Mapping[str, str] = os.environ
) -> Optional[str]:
    """The cluster's ``proxy-url``, else the environment's proxy for ``server``, or None."""
    return proxy_url or proxy_from_environment(server, env)
