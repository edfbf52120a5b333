"""The verbs on objects: GET, LIST, POST, PUT, DELETE (and delete-collection), PATCH (merge,
strategic merge as merge, server-side apply); authorised, validated, ``dryRun`` aware.
"""

from __future__ import annotations

import copy
import uuid
from typing import Callable, Optional

from tests.support.fake_apiserver.access import AccessControl
from tests.support.fake_apiserver.apply import (
    ManagerEntry,
    apply_options,
    check_apply_type,
    field_paths,
    merge_applied,
    merge_patch,
    record_update,
)
from tests.support.fake_apiserver.http import Reply, Request
from tests.support.fake_apiserver.kinds import (
    KindRegistry,
    ResourceType,
    carry_over,
    fill_new,
    now_timestamp,
)
from tests.support.fake_apiserver.selectors import parse_field_selector, parse_label_selector
from tests.support.fake_apiserver.status import (
    FieldError,
    Json,
    already_exists,
    bad_request,
    conflict,
    generic_error,
    not_found,
    patch_options_invalid,
)
from tests.support.fake_apiserver.store import ObjectStore, StoredObject, list_body
from tests.support.fake_apiserver.validation import (
    check_identity,
    check_immutable,
    decode_body,
    validate_object,
)

_OBJECT_TYPES = ("application/json", "application/yaml")
_PATCH_TYPES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def _decode(request: Request, kinds: tuple[str, ...]) -> Json:
    return decode_body(request.body, request.headers.get("content-type", "application/json"), kinds)


def _manager(request: Request) -> str:
    """``fieldManager``, else the User-Agent up to its first ``/`` (as the server does)."""
    manager = request.query.get("fieldManager")
    if manager:
        return manager
    return request.headers.get("user-agent", "").split("/")[0] or "unknown"


def _dry_run(request: Request) -> bool:
    return request.query.get("dryRun") == "All"


class Resources:
    """Serves requests on the objects of the registered kinds."""

    def __init__(self, store: ObjectStore, kinds: KindRegistry, access: AccessControl) -> None:
        self.store = store
        self.kinds = kinds
        self.access = access

    def serve(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: Optional[str]
    ) -> Reply:
        """Authorise ``request`` (on a collection when ``name`` is None) and answer it."""
        method = request.method
        if name is None:
            if method == "GET":
                watch = request.query.get("watch", "").lower() in ("true", "1")
                self.access.authorize("watch" if watch else "list", rtype, namespace, None)
                if watch:
                    raise generic_error(
                        405, "the server does not allow this method on the requested resource "
                        "(watch is not supported by the fake API server)",
                    )  # fmt: skip
                return self._list(request, rtype, namespace)
            if rtype.namespaced and namespace is None:
                raise generic_error(405)  # all-namespaces paths only list
            if method == "POST":
                self.access.authorize("create", rtype, namespace, None)
                return self._create(request, rtype, namespace)
            if method == "DELETE":
                self.access.authorize("deletecollection", rtype, namespace, None)
                return self._delete_collection(request, rtype, namespace)
            raise generic_error(405)
        handlers: dict[str, tuple[str, Callable[..., Reply]]] = {
            "GET": ("get", self._get),
            "PUT": ("update", self._update),
            "PATCH": ("patch", self._patch),
            "DELETE": ("delete", self._delete),
        }
        if method not in handlers:
            raise generic_error(405)
        verb, handler = handlers[method]
        self.access.authorize(verb, rtype, namespace, name)
        return handler(request, rtype, namespace, name)

    # -- lookups -----------------------------------------------------------------------

    def _require_namespace(self, rtype: ResourceType, namespace: Optional[str]) -> None:
        if rtype.namespaced and namespace is not None:
            namespaces = self.kinds.namespaces()
            if self.store.get(namespaces, None, namespace) is None:
                raise not_found("namespaces", namespace)

    def _lookup(self, rtype: ResourceType, namespace: Optional[str], name: str) -> StoredObject:
        stored = self.store.get(rtype, namespace, name)
        if stored is None:
            raise not_found(rtype.plural, name, rtype.group)
        return stored

    # -- verbs -------------------------------------------------------------------------

    def _get(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        return Reply(200, self._lookup(rtype, namespace, name).full)

    def _list(self, request: Request, rtype: ResourceType, namespace: Optional[str]) -> Reply:
        try:
            limit = int(request.query.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit: {request.query.get('limit')!r}") from None
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""), rtype.kind)
        page = self.store.list_page(
            rtype, namespace, labels=labels, fields=fields, limit=limit,
            continue_token=request.query.get("continue") or None,
        )  # fmt: skip
        return Reply(200, list_body(rtype, page))

    def _create(self, request: Request, rtype: ResourceType, namespace: Optional[str]) -> Reply:
        obj = _decode(request, _OBJECT_TYPES)
        meta = check_identity(obj, rtype, namespace, None)
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join("bcdfghjklmnpqrstvwxz2456789"[b % 27] for b in uuid.uuid4().bytes[:5])
            meta["name"] = f"{meta['generateName']}{suffix}"
        if rtype.namespaced:
            meta["namespace"] = namespace  # as the server's defaulting does, before validation
        with self.store.lock:
            self._require_namespace(rtype, namespace)
            validate_object(rtype, obj)
            if self.store.get(rtype, namespace, meta["name"]) is not None:
                raise already_exists(rtype.plural, meta["name"], rtype.group)
            fill_new(rtype, obj, namespace)
            record_update(None, obj, _manager(request), rtype.api_version)
            if _dry_run(request):
                return Reply(201, StoredObject.encode(obj, rtype).full)
            stored = self.store.write(rtype, obj)
        return Reply(201, stored.full)

    def _update(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        obj = _decode(request, _OBJECT_TYPES)
        meta = check_identity(obj, rtype, namespace, name)
        with self.store.lock:
            old = self._lookup(rtype, namespace, name)
            expected = meta.get("resourceVersion")
            if expected and str(expected) != old.obj["metadata"]["resourceVersion"]:
                raise conflict(rtype.plural, name, rtype.group)
            stored = self._replace(request, rtype, old, obj, _manager(request))
        return Reply(200, stored.full)

    def _replace(
        self,
        request: Request,
        rtype: ResourceType,
        old: StoredObject,
        obj: Json,
        manager: str,
        *,
        managed: bool = False,
    ) -> StoredObject:
        """Validate and store ``obj`` in place of ``old`` (with an Update-type record
        unless ``managed``, when the caller set managedFields itself)."""
        if rtype.is_core_namespace:
            obj.setdefault("metadata", {})["name"] = old.obj["metadata"]["name"]
        validate_object(rtype, obj)
        check_immutable(rtype, old.obj, obj)
        carry_over(rtype, old.obj, obj)
        obj.pop("status", None)  # status is a subresource: writes to the object keep it
        if old.obj.get("status") is not None:
            obj["status"] = copy.deepcopy(old.obj["status"])
        if not managed:
            obj["metadata"]["managedFields"] = old.obj["metadata"].get("managedFields")
            record_update(old.obj, obj, manager, rtype.api_version)
        if _dry_run(request):
            return StoredObject.encode(obj, rtype)
        return self.store.write(rtype, obj)

    def _delete(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        options: Json = {}
        if request.body.strip():
            options = _decode(request, _OBJECT_TYPES)
        preconditions = options.get("preconditions") or {}
        with self.store.lock:
            old = self._lookup(rtype, namespace, name).obj["metadata"]
            for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = preconditions.get(key)
                if wanted and wanted != old.get(key):
                    raise conflict(
                        rtype.plural, name, rtype.group,
                        f"Precondition failed: {label} in precondition: {wanted}, {label} in "
                        f"object meta: {old.get(key)}",
                    )  # fmt: skip
            if not _dry_run(request):
                self.store.delete(rtype, namespace, name)
        details: Json = {"name": name}
        if rtype.group:
            details["group"] = rtype.group
        details["kind"] = rtype.plural
        details["uid"] = old.get("uid")
        # metav1.Status with omitempty message, reason and code (as DELETE answers)
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return Reply.json(200, {**body, "details": details})

    def _delete_collection(
        self, request: Request, rtype: ResourceType, namespace: Optional[str]
    ) -> Reply:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""), rtype.kind)
        with self.store.lock:
            page = self.store.list_page(rtype, namespace, labels=labels, fields=fields)
            if not _dry_run(request):
                for stored in page.items:
                    meta = stored.obj["metadata"]
                    self.store.delete(rtype, meta.get("namespace"), meta["name"])
                page.resource_version = self.store.resource_version
        return Reply(200, list_body(rtype, page))

    # -- PATCH -------------------------------------------------------------------------

    def _patch(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        patch = _decode(request, _PATCH_TYPES)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/apply-patch+yaml":
            return self._apply(request, rtype, namespace, name, patch)
        if "force" in request.query:  # ValidatePatchOptions: a 422 on PatchOptions
            raise patch_options_invalid(
                FieldError("force", "Forbidden", "may not be specified for non-apply patch")
            )
        with self.store.lock:
            old = self._lookup(rtype, namespace, name)
            expected = (patch.get("metadata") or {}).get("resourceVersion")
            if expected and str(expected) != old.obj["metadata"]["resourceVersion"]:
                raise conflict(rtype.plural, name, rtype.group)
            merged = merge_patch(copy.deepcopy(old.obj), patch)
            check_identity(merged, rtype, namespace, name)
            stored = self._replace(request, rtype, old, merged, _manager(request))
        return Reply(200, stored.full)

    def _apply(
        self,
        request: Request,
        rtype: ResourceType,
        namespace: Optional[str],
        name: str,
        config: Json,
    ) -> Reply:
        """Server-side apply (see :mod:`~tests.support.fake_apiserver.apply`)."""
        manager, force = apply_options(request.query)
        check_apply_type(config, rtype)
        check_identity(config, rtype, namespace, name)
        config["metadata"].pop("managedFields", None)
        config.pop("status", None)
        applied = field_paths(config)
        with self.store.lock:
            old = self.store.get(rtype, namespace, name)
            if old is None:
                # An apply that creates the object is also authorized as a create, after
                # admission (a missing namespace is a 404 first). Before 1.32 that denial's
                # message has no reason at all: `configmaps "x" is forbidden: `.
                self._require_namespace(rtype, namespace)
                self.access.authorize("create", rtype, namespace, name, with_reason=False)
                obj = copy.deepcopy(config)
                meta = obj["metadata"]
                for key in ("uid", "resourceVersion", "creationTimestamp", "generation"):
                    meta.pop(key, None)
                validate_object(rtype, obj)
                fill_new(rtype, obj, namespace)
                entry = ManagerEntry(manager, "Apply", rtype.api_version, now_timestamp(), applied)
                obj["metadata"]["managedFields"] = [entry.render()] if applied else []
                if _dry_run(request):
                    return Reply(201, StoredObject.encode(obj, rtype).full)
                return Reply(201, self.store.write(rtype, obj).full)
            obj = merge_applied(rtype, old.obj, config, manager, applied, force)
            stored = self._replace(request, rtype, old, obj, manager, managed=True)
        return Reply(200, stored.full)
