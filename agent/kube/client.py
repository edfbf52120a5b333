"""The one Kubernetes API client: plain HTTP with requests (the only module that imports it).

Typed errors are built from the API's ``Status`` body. 429, 5xx and connection errors are
retried with exponential backoff, honouring ``Retry-After``; other 4xx are not retried.
A token file is re-read when it changes and once after a 401 (tokens rotate). No
``requests`` exception leaves this module.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional
from urllib.parse import quote

import requests

from agent.errors import EnvironmentFailure
from agent.kube.config import ClusterConfig
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
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or response.text[:300] or response.reason
    reason = body.get("reason") or response.reason or "Error"
    cls = _BY_STATUS.get(response.status_code, ApiError)
    return cls(response.status_code, str(reason), str(message), details=body.get("details"))


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
    ) -> None:
        self.config = config
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self.session = requests.Session()
        # verify goes with every request: requests lets REQUESTS_CA_BUNDLE override a
        # session-level setting, which would drop the cluster's CA.
        self.verify = config.verify
        if config.client_cert:
            self.session.cert = config.client_cert
        self.session.headers["User-Agent"] = user_agent
        self._token = config.token
        self._token_mtime: Optional[float] = None

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

    def _headers(self, extra: Optional[dict[str, str]]) -> dict[str, str]:
        headers = dict(extra or {})
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

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
        attempt = 0
        while True:
            response: Optional[requests.Response] = None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=self._headers(extra),
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except requests.RequestException as exc:
                if attempt >= self.retries:
                    raise Unreachable(
                        f"cannot reach the Kubernetes API at {self.config.server}: "
                        f"{type(exc).__name__}: {exc}",
                        hint=f"credentials from {self.config.source}",
                    ) from None
            else:
                if response.status_code < 400:
                    try:
                        decoded = response.json() if response.content else {}
                    except ValueError:
                        raise ApiError(
                            response.status_code, "BadResponse", "the API answered with non-JSON"
                        ) from None
                    return decoded if isinstance(decoded, dict) else {"items": decoded}
                if response.status_code == 401 and not reauthenticated and self.config.token_file:
                    reauthenticated = True  # the token may have rotated under us
                    self._refresh_token(force=True)
                    continue
                if response.status_code not in RETRYABLE or attempt >= self.retries:
                    raise _error(response)
            self.sleep(self._delay(attempt, response))
            attempt += 1

    def get(self, path: str, params: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def list(
        self, path: str, *, label_selector: Optional[str] = None, limit: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every item, page by page (``limit``/``continue``); restarts when a token expires.

        After a restart, items already yielded are skipped (by uid), so memory stays
        proportional to the number of items, not their size.
        """
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
