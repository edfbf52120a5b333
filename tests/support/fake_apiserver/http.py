"""The HTTPS side: requests and replies as the fake sees them, and the TLS server that
turns HTTP/1.1 into them (HTTP/1.1 only: ALPN offers no h2).

:class:`HttpsServer` hands every :class:`Request` to one ``handle`` function and writes the
:class:`Reply` back with the headers a real API server sends (``Audit-Id``, priority and
fairness UIDs, no ``Server``), or drops the connection when the reply says so.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, NamedTuple, Optional
from urllib.parse import parse_qsl, urlsplit

from tests.support.fake_apiserver.certs import CertBundle
from tests.support.fake_apiserver.status import ApiStatusError, bad_request, generic_error

_MAX_READ_BYTES = 64 * 1024 * 1024  # larger bodies are not even read: 413 and close


class RecordedRequest(NamedTuple):
    """One request as the server received it (``query`` keeps the last value of a key)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    #: every header line as sent (repeated ones too: Impersonate-Group)
    header_list: tuple[tuple[str, str], ...] = ()
    #: the verified client certificate (``ssl.SSLSocket.getpeercert()``), if one was sent
    peer_cert: Optional[dict[str, Any]] = None


@dataclass
class Request:
    """A parsed HTTP request handed to :meth:`FakeApiServer.handle`."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    header_list: tuple[tuple[str, str], ...] = ()  # every line, repeated ones too
    peer_cert: Optional[dict[str, Any]] = None  # a verified client certificate


@dataclass
class Reply:
    """What to answer: a status, a body and extra headers (or ``drop`` the connection)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def json(cls, status: int, document: Any, headers: Optional[dict[str, str]] = None) -> Reply:
        """A JSON reply (compact, like the API server's encoder)."""
        body = json.dumps(document, separators=(",", ":")).encode()
        return cls(status, body, headers=dict(headers or {}))

    @classmethod
    def error(cls, exc: ApiStatusError) -> Reply:
        """A ``Status`` reply for an error."""
        return cls.json(exc.code, exc.body(), exc.headers)


def page_not_found() -> Reply:
    """What the API server's mux answers for a path it does not serve."""
    return Reply(404, b"404 page not found\n", content_type="text/plain; charset=utf-8")


Handle = Callable[[Request], Reply]


def server_tls_context(certs: CertBundle) -> ssl.SSLContext:
    """TLS 1.2+ with the server certificate, offering only ``http/1.1``, asking for a
    client certificate signed by the CA (optional, as the API server's)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certs.cert_file), str(certs.key_file))
    context.load_verify_locations(str(certs.ca_file))
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context


class HttpsServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS, handshaken in their own thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], respond: Handle, context: ssl.SSLContext) -> None:
        self.respond = respond
        self.context = context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap the accepted socket in TLS here (the connection's thread), then serve it."""
        try:
            request.settimeout(30)
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._open_lock:
            self._open.add(tls)
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self._open_lock:
                self._open.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def close_connections(self) -> None:
        """Shut every open connection down (kept-alive clients must not outlive stop())."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients going away is normal in tests."""


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into :class:`Request` objects and replies into bytes."""

    protocol_version = "HTTP/1.1"
    server: HttpsServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        """Like the base class, without a ``Server`` header (the API server sends none)."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _read_body(self) -> Optional[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                size += length
                if size > _MAX_READ_BYTES:
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_READ_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Reply.error(bad_request("malformed request body framing")))
            return
        if body is None:
            self.close_connection = True
            self._send(Reply.error(generic_error(413)))
            return
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        request = Request(
            self.command,
            split.path,
            dict(parse_qsl(split.query, keep_blank_values=True)),
            {name.lower(): value for name, value in self.headers.items()},
            body,
            tuple((name.lower(), value) for name, value in self.headers.items()),
            peer or None,
        )
        reply = self.server.respond(request)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", reply.content_type)
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", "fake-flowschema")
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", "fake-prioritylevel")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()  # TCP_NODELAY: the body's segments are not held back
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve
