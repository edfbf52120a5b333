"""Who may do what: authentication (401), impersonation, and a deny list standing in for
RBAC (403).

Authentication, as kube-apiserver's authenticators: a bearer token (the primary one, which
stands for :data:`DEFAULT_USER`, or one issued with :meth:`AccessControl.issue_token` to
any user, perhaps expiring), else a client certificate signed by the server's CA (the
subject's CN is the user, its O entries the groups). Anonymous requests are rejected
everywhere, ``/version`` included, as with ``--anonymous-auth=false``.

Impersonation, as the API server's impersonation filter: ``Impersonate-User``,
``-Group``, ``-Uid`` and ``-Extra-<key>`` each need the ``impersonate`` verb (on
``users``/``groups`` in the core group, ``uids`` and ``userextras/<key>`` in
``authentication.k8s.io``), granted with :meth:`AccessControl.allow_impersonation`; the
request then runs as the impersonated user (with ``system:authenticated``).

Authorization: everything is allowed unless :meth:`AccessControl.deny` said otherwise,
for every user or one, or, after :meth:`AccessControl.use_rbac`, unless no rule of a Role
or ClusterRole bound to the user allows it (RBAC's evaluation: apiGroups, resources, verbs,
resourceNames; a RoleBinding grants in its namespace only). The identity of the request
being served is kept per thread (each request is served in its own thread, from
authentication to the reply).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import unquote

from tests.support.fake_apiserver.kinds import ResourceType
from tests.support.fake_apiserver.status import ApiStatusError, Json, quoted

DEFAULT_USER = "system:serviceaccount:mirror-agent:mirror-agent"
AUTHENTICATED = "system:authenticated"
_EXTRA_PREFIX = "impersonate-extra-"


@dataclass(frozen=True)
class Identity:
    """A user as the API server sees one after authentication (and impersonation)."""

    user: str
    groups: tuple[str, ...] = (AUTHENTICATED,)
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _subject_user(subject: Mapping[str, Any]) -> Optional[str]:
    """The user name a RoleBinding subject stands for (groups are not modelled)."""
    if subject.get("kind") == "ServiceAccount":
        return f"system:serviceaccount:{subject.get('namespace')}:{subject.get('name')}"
    if subject.get("kind") == "User":
        return str(subject.get("name"))
    return None


def _unauthorized() -> ApiStatusError:
    return ApiStatusError(401, "Unauthorized", "Unauthorized")


class AccessControl:
    """Accepted tokens and certificates, impersonation grants and denied requests."""

    def __init__(self, token: str, user: str = DEFAULT_USER) -> None:
        self.user = user
        self._token = token
        self._lock = threading.Lock()
        self._denials: set[tuple[str, str, Optional[str], Optional[str]]] = set()
        self._issued: dict[str, tuple[Identity, Optional[float]]] = {}
        self._impersonators: set[tuple[str, str, str]] = set()  # (user, resource, name)
        self._clock_offset = 0.0
        self._current = threading.local()
        self.now: Callable[[], float] = lambda: time.time() + self._clock_offset
        # per user: (namespace the grant is limited to or None, rule) of every bound role
        self._grants: Optional[dict[str, list[tuple[Optional[str], dict[str, Any]]]]] = None

    def use_rbac(self, documents: Iterable[dict[str, Any]]) -> None:
        """Authorize by the Roles, ClusterRoles and their bindings in ``documents`` (as
        the manifests hold them): users and service accounts bound get their rules, every
        other request is denied."""
        docs = [doc for doc in documents if isinstance(doc, dict)]
        roles = {
            (doc["kind"], (doc["metadata"]).get("namespace"), doc["metadata"]["name"]): doc
            for doc in docs
            if doc.get("kind") in ("Role", "ClusterRole")
        }
        grants: dict[str, list[tuple[Optional[str], dict[str, Any]]]] = {}
        for binding in docs:
            if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            namespace = binding["metadata"].get("namespace")
            ref = binding["roleRef"]
            key = (ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])
            role = roles.get(key)
            if role is None:
                continue  # a binding to a missing role grants nothing
            scope = namespace if binding["kind"] == "RoleBinding" else None
            for subject in binding.get("subjects") or []:
                user = _subject_user(subject)
                if user is not None:
                    grants.setdefault(user, []).extend(
                        (scope, rule) for rule in role.get("rules") or []
                    )
        with self._lock:
            self._grants = grants

    def _rbac_allows(
        self,
        user: str,
        verb: str,
        rtype: ResourceType,
        namespace: Optional[str],
        name: Optional[str],
    ) -> bool:
        assert self._grants is not None
        for scope, rule in self._grants.get(user, []):
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
        """The primary bearer token accepted now."""
        with self._lock:
            return self._token

    def rotate_token(self, new_token: str) -> None:
        """Accept ``new_token`` from now on; the old one answers 401."""
        with self._lock:
            self._token = new_token

    def issue_token(
        self,
        token: str,
        user: str,
        groups: tuple[str, ...] = (),
        *,
        expires_at: Optional[float] = None,
    ) -> None:
        """Accept ``token`` for ``user`` (and ``groups``) until ``expires_at`` (seconds
        since the epoch on the server's clock), or for ever."""
        identity = Identity(user, (*groups, AUTHENTICATED))
        with self._lock:
            self._issued[token] = (identity, expires_at)

    def revoke_token(self, token: str) -> None:
        """``token`` answers 401 from now on."""
        with self._lock:
            self._issued.pop(token, None)

    def advance_clock(self, seconds: float) -> None:
        """Move the server's clock (which decides when issued tokens expire) forward."""
        with self._lock:
            self._clock_offset += seconds

    def allow_impersonation(self, user: str, resource: str = "*", name: str = "*") -> None:
        """Grant ``user`` the ``impersonate`` verb on ``resource`` (``users``, ``groups``,
        ``uids``, ``userextras/<key>`` or ``*``) for ``name`` (or ``*``)."""
        with self._lock:
            self._impersonators.add((user, resource, name))

    def deny(
        self,
        verb: str,
        resource: str,
        namespace: Optional[str] = None,
        *,
        user: Optional[str] = None,
    ) -> None:
        """Answer 403 to ``verb`` on ``resource`` (plural or ``plural.group``, ``*`` for
        any), in ``namespace`` only or everywhere (None), for ``user`` only or everyone."""
        with self._lock:
            self._denials.add((verb, resource, namespace, user))

    def allow_all(self) -> None:
        """Forget every :meth:`deny` and :meth:`use_rbac`."""
        with self._lock:
            self._denials.clear()
            self._grants = None

    # -- per request -------------------------------------------------------------------

    @property
    def current(self) -> Identity:
        """Who the request served by this thread runs as."""
        identity: Optional[Identity] = getattr(self._current, "identity", None)
        return identity or Identity(self.user)

    def authenticate(
        self,
        headers: Mapping[str, str],
        peer_cert: Optional[dict[str, Any]] = None,
        header_list: Sequence[tuple[str, str]] = (),
    ) -> Identity:
        """Who sent the (lower-cased) headers, impersonation applied; 401 for nobody.
        ``header_list`` has every header line (repeated ones too), when known."""
        identity = self._authenticated(headers, peer_cert)
        lines = list(header_list) or list(headers.items())
        identity = self._impersonated(identity, [(k.lower(), v) for k, v in lines])
        self._current.identity = identity
        return identity

    def _authenticated(
        self, headers: Mapping[str, str], peer_cert: Optional[dict[str, Any]]
    ) -> Identity:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            with self._lock:
                if credential == self._token:
                    return Identity(self.user, ("system:serviceaccounts", AUTHENTICATED))
                issued = self._issued.get(credential)
            if issued is None:
                raise _unauthorized()  # an invalid token is not retried as a certificate
            identity, expires_at = issued
            if expires_at is not None and self.now() >= expires_at:
                raise _unauthorized()
            return identity
        if peer_cert:
            subject = [pair for rdn in peer_cert.get("subject", ()) for pair in rdn]
            names = [value for key, value in subject if key == "commonName"]
            groups = [value for key, value in subject if key == "organizationName"]
            if names:
                return Identity(names[0], (*groups, AUTHENTICATED))
        raise _unauthorized()

    def _may_impersonate(self, user: str, resource: str, name: str) -> bool:
        with self._lock:
            return any(
                u == user and r in (resource, "*") and n in (name, "*")
                for u, r, n in self._impersonators
            )

    def _impersonated(self, caller: Identity, lines: list[tuple[str, str]]) -> Identity:
        """Impersonation as the API server reads it: one value per header line."""
        user = next((v for k, v in lines if k == "impersonate-user"), "")
        groups = [v for k, v in lines if k == "impersonate-group"]
        uid = next((v for k, v in lines if k == "impersonate-uid"), "")
        extra: dict[str, list[str]] = {}
        for header, value in lines:
            if header.startswith(_EXTRA_PREFIX):
                extra.setdefault(unquote(header[len(_EXTRA_PREFIX) :]).lower(), []).append(value)
        if not user:
            if groups or uid or extra:
                raise ApiStatusError(
                    500, "InternalError",
                    "Internal error occurred: requested impersonation of groups, a uid or "
                    "user extras without impersonating a user",
                )  # fmt: skip
            return caller
        wanted = [("users", "", user)]
        wanted += [("groups", "", group) for group in groups]
        if uid:
            wanted.append(("uids", "authentication.k8s.io", uid))
        for key, values in extra.items():
            wanted += [(f"userextras/{key}", "authentication.k8s.io", v) for v in values]
        for resource, group, name in wanted:
            if not self._may_impersonate(caller.user, resource, name):
                kind = resource.split("/")[0]
                raise ApiStatusError(
                    403, "Forbidden",
                    f"{kind}{'.' + group if group else ''} {quoted(name)} is forbidden: User "
                    f"{quoted(caller.user)} cannot impersonate resource {quoted(resource)} "
                    f"in API group {quoted(group)} at the cluster scope",
                    {"name": name, **({"group": group} if group else {}),
                     "kind": kind},
                )  # fmt: skip
        all_groups = tuple(groups) if AUTHENTICATED in groups else (*groups, AUTHENTICATED)
        return Identity(
            user, all_groups, uid, tuple((k, tuple(v)) for k, v in sorted(extra.items()))
        )

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
        user = self.current.user
        with self._lock:
            denied = any(
                v in (verb, "*") and r in (rtype.plural, rtype.qualified, "*")
                and (ns is None or ns == namespace) and (u is None or u == user)
                for v, r, ns, u in self._denials
            )  # fmt: skip
            if not denied and self._grants is not None:
                denied = not self._rbac_allows(user, verb, rtype, namespace, name)
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
            f"User {quoted(user)} cannot {verb} resource "
            f"{quoted(rtype.plural)} in API group {quoted(rtype.group)} {scope}"
            if with_reason
            else ""  # SSA create before apiserver 0.32 (commit 757565c): an empty reason
        )
        raise ApiStatusError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)
