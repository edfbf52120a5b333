"""The kinds the fake serves, and what the server itself sets on their objects.

A :class:`ResourceType` says where a kind is served and how it is named; a
:class:`KindRegistry` holds the registered ones and finds them by Kind, plural or
``plural.group``. :func:`fill_new` and :func:`carry_over` are the identity, timestamps and
generation the server sets on create and keeps on update.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Union

from tests.support.fake_apiserver.status import Json

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update")
_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling", "coordination.k8s.io"})


def now_timestamp() -> str:
    """RFC 3339 UTC to the second, as ``metav1.Time`` serialises."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResourceType:
    """One registered kind: where it is served and how it is named."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    builtin: bool = True  # list items omit kind/apiVersion (built-ins), CRDs keep them

    @property
    def api_version(self) -> str:
        """``v1`` or ``<group>/<version>``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``configmaps`` or ``daemonsets.apps`` (what messages name)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def is_core_namespace(self) -> bool:
        """The core ``Namespace`` kind (whose objects hold the namespaced ones)."""
        return self.kind == "Namespace" and not self.group

    @property
    def is_core_configmap(self) -> bool:
        """The core ``ConfigMap`` kind (size limit, key rules, ``immutable``)."""
        return self.kind == "ConfigMap" and not self.group

    def discovery(self) -> Json:
        """The ``APIResource`` entry of this kind."""
        entry: Json = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


KindRef = Union[str, ResourceType]


class KindRegistry:
    """The registered kinds, by ``(group, version, plural)``."""

    def __init__(self, on_register: Callable[[ResourceType], None] = lambda rtype: None) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._on_register = on_register  # e.g. the object store, which makes room for it

    def register(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool,
        *,
        singular: Optional[str] = None,
        short_names: Iterable[str] = (),
        builtin: Optional[bool] = None,
    ) -> ResourceType:
        """Serve a kind (and list it in discovery); a registered one is replaced. ``builtin``
        (default: the group is a Kubernetes one) decides whether list items omit
        ``kind``/``apiVersion``, as they do for built-in types and do not for custom
        resources."""
        rtype = ResourceType(
            group, version, plural, kind, namespaced,
            singular=singular or kind.lower(), short_names=tuple(short_names),
            builtin=group in _BUILTIN_GROUPS if builtin is None else builtin,
        )  # fmt: skip
        with self._lock:
            self._types[(group, version, plural)] = rtype
        self._on_register(rtype)
        return rtype

    def all(self) -> list[ResourceType]:
        """Every registered kind."""
        with self._lock:
            return list(self._types.values())

    def served_at(self, group: str, version: str) -> dict[str, ResourceType]:
        """The kinds of one group version, by plural."""
        return {t.plural: t for t in self.all() if (t.group, t.version) == (group, version)}

    def find(self, ref: KindRef, api_version: Optional[str] = None) -> ResourceType:
        """A kind by Kind (``ConfigMap``), plural (``configmaps``) or ``plural.group``;
        ``api_version`` narrows the search. KeyError when unknown."""
        if isinstance(ref, ResourceType):
            return ref
        matches = [
            t for t in self.all()
            if ref in (t.kind, t.plural, t.qualified)
            and (api_version is None or t.api_version == api_version)
        ]  # fmt: skip
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} registered kinds match {ref!r} ({api_version})")
        return matches[0]

    def namespaces(self) -> ResourceType:
        """The core Namespace kind."""
        return self.find("Namespace", "v1")


def fill_new(rtype: ResourceType, obj: Json, namespace: Optional[str]) -> None:
    """What the server sets on create: identity, timestamps, generation."""
    obj["kind"], obj["apiVersion"] = rtype.kind, rtype.api_version
    meta = obj["metadata"]
    if rtype.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["generation"] = 1
    meta["creationTimestamp"] = now_timestamp()
    for key in ("resourceVersion", "deletionTimestamp", "selfLink"):
        meta.pop(key, None)
    if rtype.is_core_namespace:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}


def carry_over(rtype: ResourceType, old: Json, new: Json) -> None:
    """What an update keeps from the stored object: identity, creation, generation."""
    new["kind"], new["apiVersion"] = rtype.kind, rtype.api_version
    old_meta, meta = old["metadata"], new["metadata"]
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    meta.pop("selfLink", None)
    changed = any(
        old.get(k) != new.get(k)
        for k in set(old) | set(new) if k not in ("metadata", "status", "kind", "apiVersion")
    )  # fmt: skip
    meta["generation"] = int(old_meta.get("generation") or 1) + (1 if changed else 0)
    if rtype.is_core_namespace:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
