"""Who may do what: bearer-token authentication (401), and 403 from a deny list or from real
RBAC objects.

Anonymous requests are rejected everywhere, ``/version`` included, as with
``--anonymous-auth=false``; every valid token is the same user. Everything is allowed
unless :meth:`AccessControl.deny` said otherwise or, after :meth:`AccessControl.use_rbac`,
unless no rule of a Role or ClusterRole bound to the user allows it (RBAC's evaluation:
apiGroups, resources, verbs, resourceNames; a RoleBinding grants in its namespace only).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, Optional

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
        # (namespace the grant is limited to or None, rule) of every role bound to the user
        self._grants: Optional[list[tuple[Optional[str], dict[str, Any]]]] = None

    def use_rbac(self, documents: Iterable[dict[str, Any]]) -> None:
        """Authorize by the Roles, ClusterRoles and their bindings in ``documents`` (as
        the manifests hold them) for this user, a service account."""
        docs = [doc for doc in documents if isinstance(doc, dict)]
        roles = {
            (doc["kind"], (doc["metadata"]).get("namespace"), doc["metadata"]["name"]): doc
            for doc in docs
            if doc.get("kind") in ("Role", "ClusterRole")
        }
        grants: list[tuple[Optional[str], dict[str, Any]]] = []
        for binding in docs:
            if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            if not any(self._is_subject(subject) for subject in binding.get("subjects") or []):
                continue
            namespace = binding["metadata"].get("namespace")
            ref = binding["roleRef"]
            key = (ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])
            role = roles.get(key)
            if role is None:
                continue  # a binding to a missing role grants nothing
            scope = namespace if binding["kind"] == "RoleBinding" else None
            grants += [(scope, rule) for rule in role.get("rules") or []]
        with self._lock:
            self._grants = grants

    def _is_subject(self, subject: Mapping[str, Any]) -> bool:
        if subject.get("kind") == "ServiceAccount":
            user = f"system:serviceaccount:{subject.get('namespace')}:{subject.get('name')}"
            return user == self.user
        return subject.get("kind") == "User" and subject.get("name") == self.user

    def _rbac_allows(
        self, verb: str, rtype: ResourceType, namespace: Optional[str], name: Optional[str]
    ) -> bool:
        assert self._grants is not None
        for scope, rule in self._grants:
            if scope is not None and scope != namespace:
                continue
            if not ({"*", rtype.group} & set(rule.get("apiGroups") or [])):
                continue
            if not ({"*", rtype.plural} & set(rule.get("resources") or [])):
                continue
            if not ({"*", verb} & set(rule.get("verbs") or [])):
                continue
            names = rule.get("resourceNames") or []
            if names and name not in names:
                continue
            return True
        return False

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
            self._grants = None

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
            if not denied and self._grants is not None:
                denied = not self._rbac_allows(verb, rtype, namespace, name)
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
