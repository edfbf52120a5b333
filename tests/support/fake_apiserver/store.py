"""The in-memory object store: every kind's objects, sorted as etcd keeps them, and LIST pages.

Objects are serialised once, when written (:class:`StoredObject`), so reads only join
bytes. Continue tokens carry the list's resourceVersion and the next key; they expire when
:meth:`ObjectStore.expire_continue_tokens` is called, as after an etcd compaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from bisect import bisect_left, insort
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from tests.support.fake_apiserver.kinds import ResourceType
from tests.support.fake_apiserver.selectors import FieldTerm, Requirement, field_selector_matches
from tests.support.fake_apiserver.status import (
    EXPIRED_CONTINUE_MESSAGE,
    ApiStatusError,
    Json,
    bad_request,
)

_METADATA_ORDER = (
    "name", "generateName", "namespace", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip


def _ordered_metadata(meta: Mapping[str, Any]) -> Json:
    """Metadata keys in the order the API server writes them; empty maps dropped."""
    ordered = {k: meta[k] for k in _METADATA_ORDER if k in meta and meta[k] not in (None, {}, [])}
    ordered.update((k, v) for k, v in meta.items() if k not in _METADATA_ORDER and v is not None)
    return ordered


@dataclass(frozen=True)
class StoredObject:
    """An object as stored: the dict (never mutated once stored) and its two JSON forms."""

    obj: Json
    item: bytes  # as an item of a list (built-ins omit kind and apiVersion there)
    full: bytes  # as GET returns it

    @classmethod
    def encode(cls, obj: Json, rtype: ResourceType) -> StoredObject:
        """Serialise once, at write time, so that reads only join bytes."""
        head = {"kind": rtype.kind, "apiVersion": rtype.api_version}
        rest = {k: v for k, v in obj.items() if k not in head}
        body = json.dumps(rest, separators=(",", ":")).encode()
        prefix = json.dumps(head, separators=(",", ":")).encode()[:-1]
        full = prefix + (b"," + body[1:] if body != b"{}" else b"}")
        return cls({**head, **rest}, body if rtype.builtin else full, full)


@dataclass
class Page:
    """One page of a LIST: the items, the continue key and the counts the server reports."""

    items: list[StoredObject]
    resource_version: int
    continue_token: Optional[str] = None
    remaining: Optional[int] = None


def list_body(rtype: ResourceType, page: Page) -> bytes:
    """The ``<Kind>List`` document of a page, joined from the stored item bytes."""
    meta: Json = {"resourceVersion": str(page.resource_version)}
    if page.continue_token:
        meta["continue"] = page.continue_token
    if page.remaining is not None:
        meta["remainingItemCount"] = page.remaining
    head = json.dumps(
        {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": meta},
        separators=(",", ":"),
    ).encode()
    return head[:-1] + b',"items":[' + b",".join(s.item for s in page.items) + b"]}"


class ObjectStore:
    """Objects of every registered kind, by kind and ``namespace/name`` key, kept sorted.

    Keys sort as etcd's do (``namespace/name`` byte order), so a namespace is a contiguous
    range and a page is a slice: serving one costs O(log n + page). One lock guards it all.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.resource_version = 0
        self.compacted = 0  # continue tokens below this resourceVersion are expired
        self._objects: dict[ResourceType, dict[str, StoredObject]] = {}
        self._keys: dict[ResourceType, list[str]] = {}

    @staticmethod
    def key(rtype: ResourceType, namespace: Optional[str], name: str) -> str:
        """``namespace/name`` for namespaced kinds, ``name`` otherwise."""
        return f"{namespace}/{name}" if rtype.namespaced else name

    def add_type(self, rtype: ResourceType) -> None:
        """Make room for a kind (idempotent)."""
        with self.lock:
            self._objects.setdefault(rtype, {})
            self._keys.setdefault(rtype, [])

    def next_resource_version(self) -> int:
        """Advance the cluster-wide resourceVersion (every write does)."""
        with self.lock:
            self.resource_version += 1
            return self.resource_version

    def get(
        self, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Optional[StoredObject]:
        """The stored object, or None."""
        with self.lock:
            return self._objects[rtype].get(self.key(rtype, namespace, name))

    def write(self, rtype: ResourceType, obj: Json) -> StoredObject:
        """Store ``obj`` (create or replace) under a new resourceVersion; it is not copied."""
        with self.lock:
            meta = obj["metadata"]
            meta["resourceVersion"] = str(self.next_resource_version())
            obj["metadata"] = _ordered_metadata(meta)
            stored = StoredObject.encode(obj, rtype)
            key = self.key(rtype, meta.get("namespace"), meta["name"])
            objects = self._objects[rtype]
            if key not in objects:
                insort(self._keys[rtype], key)
            objects[key] = stored
            return stored

    def remove(
        self, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Optional[StoredObject]:
        """Delete one object; the removed object, or None."""
        with self.lock:
            key = self.key(rtype, namespace, name)
            stored = self._objects[rtype].pop(key, None)
            if stored is not None:
                keys = self._keys[rtype]
                del keys[bisect_left(keys, key)]
                self.next_resource_version()
            return stored

    def remove_namespace_contents(self, namespace: str) -> int:
        """Delete every namespaced object in ``namespace``; how many went."""
        removed = 0
        with self.lock:
            for rtype, keys in self._keys.items():
                if not rtype.namespaced:
                    continue
                lo, hi = self._range(keys, namespace)
                for key in keys[lo:hi]:
                    del self._objects[rtype][key]
                del keys[lo:hi]
                removed += hi - lo
            if removed:
                self.next_resource_version()
        return removed

    def delete(self, rtype: ResourceType, namespace: Optional[str], name: str) -> bool:
        """Remove one object, and a Namespace's objects with it (no ``Terminating``
        phase); whether it existed."""
        removed = self.remove(rtype, namespace, name)
        if removed is not None and rtype.is_core_namespace:
            self.remove_namespace_contents(name)
        return removed is not None

    @staticmethod
    def _range(keys: list[str], namespace: Optional[str]) -> tuple[int, int]:
        if namespace is None:
            return 0, len(keys)
        # "/" + 1 is "0": every "<namespace>/..." key sorts between the two bounds
        return bisect_left(keys, namespace + "/"), bisect_left(keys, namespace + "0")

    def all(self, rtype: ResourceType) -> list[StoredObject]:
        """Every object of a kind, in key order."""
        with self.lock:
            objects = self._objects[rtype]
            return [objects[k] for k in self._keys[rtype]]

    def count(self, rtype: ResourceType) -> int:
        """How many objects of a kind are stored."""
        with self.lock:
            return len(self._keys[rtype])

    # -- LIST ------------------------------------------------------------------------

    def expire_continue_tokens(self) -> None:
        """Behave as if etcd compacted now: every continue token issued so far expires."""
        with self.lock:
            self.compacted = self.next_resource_version()

    def list_page(
        self,
        rtype: ResourceType,
        namespace: Optional[str],
        *,
        labels: Optional[list[Requirement]] = None,
        fields: Optional[list[FieldTerm]] = None,
        limit: int = 0,
        continue_token: Optional[str] = None,
    ) -> Page:
        """One page of a LIST, as the API server's etcd-backed list builds it."""
        start = ""
        with self.lock:
            list_rv = self.resource_version
            if continue_token:
                list_rv, start = self._decode_continue(continue_token)
                if list_rv < self.compacted:  # issued before the last compaction
                    raise ApiStatusError(410, "Expired", EXPIRED_CONTINUE_MESSAGE)
            keys = self._keys[rtype]
            objects = self._objects[rtype]
            lo, hi = self._range(keys, namespace)
            if start:
                lo = max(lo, bisect_left(keys, start))
            filtered = bool(labels or fields)
            if not filtered:
                end = hi if limit <= 0 else min(hi, lo + limit)
                items = [objects[k] for k in keys[lo:end]]
                last = end
            else:
                items = []
                last = lo
                while last < hi and (limit <= 0 or len(items) < limit):
                    stored = objects[keys[last]]
                    meta = stored.obj["metadata"]
                    if (
                        not labels or all(r.matches(meta.get("labels") or {}) for r in labels)
                    ) and (not fields or field_selector_matches(fields, stored.obj)):
                        items.append(stored)
                    last += 1
            page = Page(items, list_rv)
            if limit > 0 and last < hi:
                page.continue_token = self._encode_continue(list_rv, keys[last - 1] + "\x00")
                if not filtered:
                    page.remaining = hi - last
            return page

    @staticmethod
    def _encode_continue(resource_version: int, start: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, str]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            decoded = json.loads(raw)
            if decoded.get("v") != "meta.k8s.io/v1":
                raise ValueError("unexpected version")
            return int(decoded["rv"]), str(decoded["start"])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise bad_request(f"continue key is not valid: {exc}") from None
