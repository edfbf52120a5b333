"""The one Kubernetes API client: plain HTTP with requests (the only module that imports it).

Typed errors are built from the API's ``Status`` body. 429, 5xx and connection errors are
retried with exponential backoff, honouring ``Retry-After``; other 4xx are not retried.
A token file is re-read when it changes and once after a 401 (tokens rotate); an exec
plugin's credential is renewed before it expires and once after a 401. No ``requests``
exception leaves this module.

The proxy is chosen as kubectl chooses it (:mod:`agent.kube.proxy`), not by requests'
own reading of the environment; ``tls-server-name`` sets the TLS server name (SNI and
the name the certificate must carry); impersonation sends the ``Impersonate-*`` headers,
one header per group or extra value, as client-go does.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, Optional
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPHeaderDict

from agent.documents import DocumentError, parse_json
from agent.errors import EnvironmentFailure
from agent.kube.config import ClusterConfig, Impersonation, KubeConfigError
from agent.kube.exec_plugin import ExecCredentialSource
from agent.kube.headers import header_problem
from agent.kube.proxy import choose_proxy
from agent.safe_read import SMALL_FILE_LIMIT, UnsafeFile, read_text

RETRYABLE = {429, 500, 502, 503, 504}


class ApiError(EnvironmentFailure):
    """The API answered with an error (``status``/``reason`` from its Status body).

    Options are validated before any request, so an error the API returns is the
    cluster's (a refused login or permission, a server in trouble): exit ENVIRONMENT."""

    def __init__(
        self, status: int, reason: str, message: str, *, details: Optional[dict[str, Any]] = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.api_message = message
        self.details = details or {}


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Gone(ApiError):
    """410: e.g. an expired ``continue`` token."""


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class Invalid(ApiError):
    """422: the object was rejected (e.g. a ConfigMap over 1 MiB)."""


class Unreachable(EnvironmentFailure):
    """No answer from the API after the retries (connection errors, timeouts)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
}


def _error(response: requests.Response) -> ApiError:
    try:
        body = parse_json(response.text, "the API's error")  # nesting bounded
    except DocumentError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or response.text[:300] or response.reason
    reason = body.get("reason") or response.reason or "Error"
    cls = _BY_STATUS.get(response.status_code, ApiError)
    return cls(response.status_code, str(reason), str(message), details=body.get("details"))


# HTTP token characters but "%" (client-go's headerKeyEscape; the server path-unescapes)
_HEADER_KEY_SAFE = set((string.ascii_letters + string.digits + "!#$&'*+-.^_`|~").encode())


def _header_key_escape(key: str) -> str:
    """An ``Impersonate-Extra-`` key as client-go escapes it (percent-encoded bytes)."""
    return "".join(chr(b) if b in _HEADER_KEY_SAFE else f"%{b:02X}" for b in key.encode())


_IMPERSONATION_FIELDS = {
    "Impersonate-User": "the impersonated user (as, --as)",
    "Impersonate-Uid": "the impersonated uid (as-uid, --as-uid)",
    "Impersonate-Group": "an impersonated group (as-groups, --as-group)",
}


def impersonation_headers(who: Impersonation) -> list[tuple[str, str]]:
    """The ``Impersonate-*`` headers; KubeConfigError (naming the field, not quoting the
    value) when a value cannot be sent in a header."""
    headers = [("Impersonate-User", who.user)]
    if who.uid:
        headers.append(("Impersonate-Uid", who.uid))
    headers += [("Impersonate-Group", group) for group in who.groups]
    for key, values in who.extra:
        headers += [(f"Impersonate-Extra-{_header_key_escape(key)}", v) for v in values]
    for name, value in headers:
        problem = header_problem(value)
        if problem is not None:
            field = _IMPERSONATION_FIELDS.get(name, "an impersonated extra value (as-user-extra)")
            raise KubeConfigError(
                f"{field} cannot be sent in an HTTP header ({name}): it contains {problem}"
            )
    return headers


#: Where Go looks for the system's CA bundle on Linux (crypto/x509's root_linux.go)
_SYSTEM_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # CentOS, RHEL 7+
    "/etc/ssl/cert.pem",  # Alpine
)


def system_ca_bundle(environ: Mapping[str, str]) -> bool | str:
    """The CAs kubectl trusts when the kubeconfig names none: ``SSL_CERT_FILE``, else the
    system's bundle (a corporate CA added to the system store is trusted as by kubectl);
    True (requests' own bundle) when there is none."""
    candidates = [environ["SSL_CERT_FILE"]] if environ.get("SSL_CERT_FILE") else []
    for path in [*candidates, *_SYSTEM_CA_FILES]:
        if os.path.isfile(path):
            return path
    return True


def _without_userinfo(text: str) -> str:
    """A proxy URL's user:password must not reach a message."""
    return re.sub(r"://[^/@\s]+@", "://***@", text)


class _KubeAdapter(HTTPAdapter):
    """requests' adapter with a TLS server name and headers that repeat."""

    def __init__(self, tls_server_name: Optional[str], headers: Sequence[tuple[str, str]]) -> None:
        self.tls_kwargs: dict[str, Any] = (
            {"server_hostname": tls_server_name, "assert_hostname": tls_server_name}
            if tls_server_name
            else {}
        )
        self.repeated_headers = list(headers)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **{**kwargs, **self.tls_kwargs})

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return super().proxy_manager_for(proxy, **{**proxy_kwargs, **self.tls_kwargs})

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if self.repeated_headers:
            headers = HTTPHeaderDict(dict(request.headers))
            for name, value in self.repeated_headers:
                headers.add(name, value)
            request.headers = headers  # type: ignore[assignment]  # urllib3 sends each
        return super().send(request, *args, **kwargs)


#: The most items a list asks for in one page (kubectl's default chunk size).
MAX_PAGE = 500


class KubeClient:
    def __init__(
        self,
        config: ClusterConfig,
        *,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "mirror-agent",
        environ: Mapping[str, str] = os.environ,
        exec_credentials: Optional[ExecCredentialSource] = None,
    ) -> None:
        self.config = config
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self.last_body_bytes = 0  # the size of the last answer's body (list sizes its pages)
        self.session = requests.Session()
        # The proxy is kubectl's choice, not requests' reading of the environment (which
        # also proxies loopback addresses, and reads REQUESTS_CA_BUNDLE and ~/.netrc).
        self.session.trust_env = False
        proxy = choose_proxy(config.server, config.proxy_url, environ)
        if proxy:
            self.session.proxies = {"http": proxy, "https": proxy}
        adapter = _KubeAdapter(
            config.tls_server_name,
            impersonation_headers(config.impersonation) if config.impersonation else [],
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # verify goes with every request (trust_env is off: REQUESTS_CA_BUNDLE is not read)
        self.verify = system_ca_bundle(environ) if config.verify is True else config.verify
        self.session.headers["User-Agent"] = user_agent
        if config.disable_compression:
            self.session.headers["Accept-Encoding"] = "identity"
        self._token = config.token
        self._token_mtime: Optional[float] = None
        self.exec_credentials = exec_credentials or (
            ExecCredentialSource(config.exec_plugin) if config.exec_plugin else None
        )

    # -- authentication ----------------------------------------------------------------

    def _refresh_token(self, force: bool = False) -> None:
        path = self.config.token_file
        if not path:
            return
        try:
            import os

            mtime = os.stat(path).st_mtime
            if force or mtime != self._token_mtime:
                self._token = (read_text(path, limit=SMALL_FILE_LIMIT) or "").strip()
                self._token_mtime = mtime
        except OSError as exc:
            raise EnvironmentFailure(
                f"cannot read the API token {path}: {exc.strerror or exc}"
            ) from None
        except UnsafeFile as exc:
            raise EnvironmentFailure(f"cannot read the API token {exc.message}") from None

    def _credentials(
        self, extra: Optional[dict[str, str]], renew: bool = False
    ) -> tuple[dict[str, str], Optional[tuple[str, str]]]:
        """The headers (with the bearer token) and the client certificate of a request."""
        headers = dict(extra or {})
        token, cert = self._token, self.config.client_cert
        if self.exec_credentials is not None:
            credential = self.exec_credentials.credential(renew=renew)
            token = credential.token or token
            cert = credential.client_cert or cert
        if token:
            problem = header_problem(token)
            if problem is not None:  # the exec plugin's is checked where it is decoded
                raise KubeConfigError(
                    f"the bearer token from {self.config.source or 'the kubeconfig'} cannot be "
                    f"sent in an HTTP Authorization header: it contains {problem}"
                )
            headers["Authorization"] = f"Bearer {token}"
        return headers, cert

    # -- requests ------------------------------------------------------------------------

    def _delay(self, attempt: int, response: Optional[requests.Response]) -> float:
        if response is not None and response.headers.get("Retry-After"):
            try:
                return min(float(response.headers["Retry-After"]), self.max_backoff)
            except ValueError:
                pass
        base: float = min(self.backoff * (2**attempt), self.max_backoff)
        return base * (0.5 + random.random() / 2)  # jitter: nodes must not retry in step

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[dict[str, Any]] = None,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
    ) -> dict[str, Any]:
        """Send one API request with retries; the decoded JSON body, or a typed error."""
        url = self.config.server + path
        extra = {"Accept": "application/json"}
        if content_type:
            extra["Content-Type"] = content_type
        self._refresh_token()
        reauthenticated = False
        renew = False
        attempt = 0
        while True:
            response: Optional[requests.Response] = None
            headers, cert = self._credentials(extra, renew)
            renew = False
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=headers,
                    cert=cert,
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except (requests.exceptions.InvalidHeader, UnicodeEncodeError) as exc:
                # Their text quotes the header's value (a token): never shown.
                raise KubeConfigError(
                    f"a request header cannot be sent to {self.config.server} "
                    f"({type(exc).__name__}): a token or impersonation value from "
                    f"{self.config.source or 'the kubeconfig'} holds characters HTTP headers "
                    "cannot carry"
                ) from None
            except requests.RequestException as exc:
                if attempt >= self.retries:
                    raise Unreachable(
                        f"cannot reach the Kubernetes API at {self.config.server}: "
                        f"{type(exc).__name__}: {_without_userinfo(str(exc))}",
                        hint=f"credentials from {self.config.source}",
                    ) from None
            except OSError as exc:  # requests' own check of the CA bundle or certificate files
                raise KubeConfigError(
                    f"cannot use the TLS files for {self.config.server} (credentials from "
                    f"{self.config.source or 'the kubeconfig'}): {exc.strerror or exc}"
                ) from None
            else:
                if response.status_code < 400:
                    self.last_body_bytes = len(response.content)
                    try:
                        # nesting bounded: a hostile answer cannot exhaust the stack
                        decoded = (
                            parse_json(response.text, "the API's answer")
                            if response.content
                            else {}
                        )
                    except DocumentError as exc:  # not JSON, or nested past the bound
                        raise ApiError(response.status_code, "BadResponse", str(exc)) from None
                    return decoded if isinstance(decoded, dict) else {"items": decoded}
                renewable = self.config.token_file or self.exec_credentials is not None
                if response.status_code == 401 and not reauthenticated and renewable:
                    reauthenticated = True  # the token may have rotated or been revoked
                    self._refresh_token(force=True)
                    renew = True
                    continue
                if response.status_code not in RETRYABLE or attempt >= self.retries:
                    raise _error(response)
            self.sleep(self._delay(attempt, response))
            attempt += 1

    def get(self, path: str, params: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def list(
        self,
        path: str,
        *,
        label_selector: Optional[str] = None,
        limit: int = MAX_PAGE,
        page_bytes: Optional[int] = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item, page by page (``limit``/``continue``); restarts when a token expires.

        With ``page_bytes``, ``limit`` is the first page's size and the least of any
        page's: the next pages hold as many items as about ``page_bytes`` of the sizes
        seen so far allow, up to MAX_PAGE (the API server takes a new limit with each
        continue token). After a restart, items already yielded are skipped (by uid), so
        memory stays proportional to the number of items, not their size.
        """
        least = limit
        seen: set[str] = set()
        continue_token: Optional[str] = None
        restarts = 0
        while True:
            params: dict[str, Any] = {"limit": limit}
            if label_selector:
                params["labelSelector"] = label_selector
            if continue_token:
                params["continue"] = continue_token
            try:
                page = self.get(path, params)
                # read now: while the items are handed out, the caller may send other
                # requests on this client
                page_size = self.last_body_bytes
            except Gone:
                if not continue_token or restarts >= 3:
                    raise
                restarts += 1
                continue_token = None  # the list changed too much: start a fresh one
                continue
            for item in page.get("items") or []:
                uid = (item.get("metadata") or {}).get("uid") or json.dumps(
                    item.get("metadata"), sort_keys=True
                )
                if uid in seen:
                    continue
                seen.add(uid)
                yield item
            items = len(page.get("items") or [])
            if page_bytes and items and page_size > 0:
                fits = page_bytes * items // page_size
                limit = max(least, min(MAX_PAGE, fits))
            continue_token = (page.get("metadata") or {}).get("continue") or None
            if not continue_token:
                return

    def apply(
        self, path: str, obj: dict[str, Any], *, field_manager: str, force: bool = True
    ) -> dict[str, Any]:
        """Server-side apply: creates or updates in one request."""
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        return self.request(
            "PATCH",
            path,
            params=params,
            # JSON is YAML, but not with json.dumps' \ud83d-style surrogate escapes, which
            # the API server's YAML decoder refuses: write the characters as UTF-8
            body=json.dumps(obj, ensure_ascii=False).encode(),
            content_type="application/apply-patch+yaml",
        )


def configmap_path(namespace: str, name: Optional[str] = None) -> str:
    base = f"/api/v1/namespaces/{quote(namespace, safe='')}/configmaps"
    return f"{base}/{quote(name, safe='')}" if name else base


def node_path(name: Optional[str] = None) -> str:
    return f"/api/v1/nodes/{quote(name, safe='')}" if name else "/api/v1/nodes"
