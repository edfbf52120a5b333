"""An HTTP CONNECT proxy on 127.0.0.1 for tests: what a workstation's corporate proxy or
jump host does for kubectl.

It tunnels ``CONNECT host:port`` to the target, resolving names through its own
``hosts`` table first (a name only the proxy can resolve proves that a client went
through it, as a cluster's internal name does behind a jump host), and records every
tunnel it opened. With ``credentials`` it wants ``Proxy-Authorization: Basic``; with
``certs`` it speaks TLS itself (an ``https://`` proxy).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Optional

from tests.support.fake_apiserver.certs import CertBundle

_HEAD_LIMIT = 64 * 1024


class ConnectProxy:
    """Use as a context manager; :attr:`url` is ``http://127.0.0.1:<port>`` (or https)."""

    def __init__(
        self,
        hosts: Optional[Mapping[str, str]] = None,
        *,
        credentials: Optional[tuple[str, str]] = None,
        certs: Optional[CertBundle] = None,
    ) -> None:
        self.hosts = dict(hosts or {})
        self.credentials = credentials
        self.tls: Optional[ssl.SSLContext] = None
        if certs is not None:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(str(certs.cert_file), str(certs.key_file))
        self.tunnels: list[str] = []  # "host:port" of every CONNECT served
        self.refused: list[str] = []  # why a request was refused
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="connect-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ConnectProxy:
        self._listener.listen(64)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk or len(head) > _HEAD_LIMIT:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = [*lines[0].split(" "), "", ""][:3]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:])
            }
            if method != "CONNECT":
                self._refuse(client, 405, f"{method} {target}: only CONNECT is served")
                return
            if self.credentials is not None:
                expected = base64.b64encode(":".join(self.credentials).encode()).decode()
                if headers.get("proxy-authorization") != f"Basic {expected}":
                    self._refuse(client, 407, f"CONNECT {target}: no or wrong credentials")
                    return
            host, _, port = target.rpartition(":")
            host = host.strip("[]")
            try:
                upstream = socket.create_connection((self.hosts.get(host, host), int(port)), 10)
            except (OSError, ValueError) as exc:
                self._refuse(client, 502, f"CONNECT {target}: {exc}")
                return
            with self._lock:
                self.tunnels.append(target)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pump(client, upstream)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()

    def _refuse(self, client: socket.socket, status: int, why: str) -> None:
        with self._lock:
            self.refused.append(why)
        extra = b'Proxy-Authenticate: Basic realm="proxy"\r\n' if status == 407 else b""
        client.sendall(
            f"HTTP/1.1 {status} Refused\r\n".encode() + extra + b"Content-Length: 0\r\n\r\n"
        )

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes (TLS stays end to end)."""
        sockets = [client, upstream]
        try:
            while not self._stopping.is_set():
                pending = client.pending() if isinstance(client, ssl.SSLSocket) else 0
                readable = [client] if pending else select.select(sockets, [], [], 0.5)[0]
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)
        finally:
            with contextlib.suppress(OSError):
                upstream.close()
