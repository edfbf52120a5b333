"""Who may do what: bearer-token authentication (401) and a deny list standing in for RBAC (403).

Anonymous requests are rejected everywhere, ``/version`` included, as with
``--anonymous-auth=false``; every valid token is the same user. Everything is allowed
unless :meth:`AccessControl.deny` said otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Optional

from tests.support.fake_apiserver.kinds import ResourceType
from tests.support.fake_apiserver.status import ApiStatusError, Json, quoted

DEFAULT_USER = "system:serviceaccount:mirror-agent:mirror-agent"


class AccessControl:
    """The accepted token, the user it stands for, and the denied (verb, resource,
    namespace) triples."""

    def __init__(self, token: str, user: str = DEFAULT_USER) -> None:
        self.user = user
        self._token = token
        self._lock = threading.Lock()
        self._denials: set[tuple[str, str, Optional[str]]] = set()

    @property
    def token(self) -> str:
        """The bearer token accepted now."""
        with self._lock:
            return self._token

    def rotate_token(self, new_token: str) -> None:
        """Accept ``new_token`` from now on; the old one answers 401."""
        with self._lock:
            self._token = new_token

    def deny(self, verb: str, resource: str, namespace: Optional[str] = None) -> None:
        """Answer 403 to ``verb`` on ``resource`` (plural or ``plural.group``, ``*`` for
        any), in ``namespace`` only or everywhere (None)."""
        with self._lock:
            self._denials.add((verb, resource, namespace))

    def allow_all(self) -> None:
        """Forget every :meth:`deny`."""
        with self._lock:
            self._denials.clear()

    def authenticate(self, headers: Mapping[str, str]) -> None:
        """401 unless the (lower-cased) headers carry ``Authorization: Bearer <token>``."""
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            raise ApiStatusError(401, "Unauthorized", "Unauthorized")

    def authorize(
        self,
        verb: str,
        rtype: ResourceType,
        namespace: Optional[str],
        name: Optional[str],
        *,
        with_reason: bool = True,
    ) -> None:
        """403 Forbidden, worded as the RBAC authorizer words it, for a denied request."""
        with self._lock:
            denied = any(
                v in (verb, "*") and r in (rtype.plural, rtype.qualified, "*")
                and (ns is None or ns == namespace)
                for v, r, ns in self._denials
            )  # fmt: skip
        if not denied:
            return
        subject = f"{rtype.qualified} {quoted(name)}" if name else rtype.qualified
        scope = f"in the namespace {quoted(namespace)}" if namespace else "at the cluster scope"
        details: Json = {}
        if name:
            details["name"] = name
        if rtype.group:
            details["group"] = rtype.group
        details["kind"] = rtype.plural
        reason = (
            f"User {quoted(self.user)} cannot {verb} resource "
            f"{quoted(rtype.plural)} in API group {quoted(rtype.group)} {scope}"
            if with_reason
            else ""  # SSA create before apiserver 0.32 (commit 757565c): an empty reason
        )
        raise ApiStatusError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)
