"""Server-side apply and ``managedFields``; the JSON merge patch.

A manager owns a set of field paths, at the granularity documented on
:class:`~tests.support.fake_apiserver.server.FakeApiServer`: ``data``/``binaryData``/
``stringData`` keys and ``metadata.labels``/``annotations`` keys one by one, every other
top-level field (and ``metadata.ownerReferences``/``finalizers``) whole. Update-type
writes (create, PUT, merge patch) go through :func:`record_update`; an apply through
:func:`merge_applied`, which answers 409 on another manager's fields unless forced.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from tests.support.fake_apiserver.kinds import ResourceType, now_timestamp
from tests.support.fake_apiserver.limits import MAX_FIELD_MANAGER_LENGTH
from tests.support.fake_apiserver.status import (
    ApiStatusError,
    FieldError,
    Json,
    bad_request,
    patch_options_invalid,
    quoted,
)

FieldPath = tuple[str, ...]
_KEYED_MAPS = ("data", "binaryData", "stringData")
_IGNORED_TOP = ("apiVersion", "kind", "metadata", "status")


def field_paths(obj: Mapping[str, Any]) -> set[FieldPath]:
    """The fields of ``obj`` that a manager can own."""
    paths: set[FieldPath] = set()
    for top, value in obj.items():
        if top in _IGNORED_TOP or value is None:
            continue
        if top in _KEYED_MAPS and isinstance(value, dict):
            paths.update((top, key) for key in value)
        else:
            paths.add((top,))
    meta = obj.get("metadata") or {}
    for sub in ("labels", "annotations"):
        paths.update(("metadata", sub, key) for key in meta.get(sub) or {})
    for sub in ("ownerReferences", "finalizers"):
        if meta.get(sub):
            paths.add(("metadata", sub))
    return paths


_MISSING = object()


def value_at(obj: Mapping[str, Any], path: FieldPath) -> Any:
    """The value at a field path, or a sentinel when absent."""
    current: Any = obj
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def paths_to_fields_v1(paths: Iterable[FieldPath]) -> Json:
    """``FieldsV1`` (``{"f:data": {".": {}, "f:key": {}}}``) for a path set."""
    root: Json = {}
    for path in sorted(paths):
        node = root
        for depth, part in enumerate(path):
            child = node.setdefault(f"f:{part}", {})
            if depth < len(path) - 1 and part != "metadata":
                child.setdefault(".", {})
            node = child
    return root


def fields_v1_to_paths(fields: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    """The inverse of :func:`paths_to_fields_v1` (leaves only)."""
    paths: set[FieldPath] = set()
    for key, child in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        grand = {k: v for k, v in (child or {}).items() if k != "."}
        if grand:
            paths |= fields_v1_to_paths(grand, path)
        else:
            paths.add(path)
    return paths


@dataclass
class ManagerEntry:
    """One ``managedFields`` entry, with its fields as a path set."""

    manager: str
    operation: str  # Apply or Update
    api_version: str
    time: str
    paths: set[FieldPath]

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> ManagerEntry:
        """From the stored ``managedFields`` form."""
        return cls(
            str(entry.get("manager") or ""), str(entry.get("operation") or "Update"),
            str(entry.get("apiVersion") or ""), str(entry.get("time") or ""),
            fields_v1_to_paths(entry.get("fieldsV1") or {}),
        )  # fmt: skip

    def render(self) -> Json:
        """To the stored ``managedFields`` form."""
        return {
            "manager": self.manager, "operation": self.operation,
            "apiVersion": self.api_version, "time": self.time,
            "fieldsType": "FieldsV1", "fieldsV1": paths_to_fields_v1(self.paths),
        }  # fmt: skip


def managers_of(obj: Mapping[str, Any]) -> list[ManagerEntry]:
    """The parsed ``metadata.managedFields`` of an object."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [ManagerEntry.parse(e) for e in entries if isinstance(e, Mapping)]


def record_update(
    old: Optional[Mapping[str, Any]], new: Json, manager: str, api_version: str
) -> None:
    """Set ``new``'s managedFields after an Update-type write (create, PUT, merge patch):
    ``manager`` takes every field it changed, the others keep the rest."""
    before = old or {}
    entries = managers_of(before)
    now_paths = field_paths(new)
    changed = {
        p for p in field_paths(before) | now_paths if value_at(before, p) != value_at(new, p)
    }
    for entry in entries:
        entry.paths = (entry.paths - changed) & now_paths
    mine = next((e for e in entries if e.manager == manager and e.operation == "Update"), None)
    if changed & now_paths:
        if mine is None:
            mine = ManagerEntry(manager, "Update", api_version, now_timestamp(), set())
            entries.append(mine)
        mine.paths |= changed & now_paths
        mine.time = now_timestamp()
    new["metadata"]["managedFields"] = [e.render() for e in entries if e.paths]


# --------------------------------------------------------------------------------------
# server-side apply


def apply_options(query: Mapping[str, str]) -> tuple[str, bool]:
    """``(fieldManager, force)`` of an apply request; 422 or 400 as the server answers."""
    manager = query.get("fieldManager", "")
    if not manager:
        raise patch_options_invalid(
            FieldError("fieldManager", "Required value", "is required for apply patch")
        )
    if len(manager) > MAX_FIELD_MANAGER_LENGTH:
        raise patch_options_invalid(FieldError(
            "fieldManager", "Too long", f"must have at most {MAX_FIELD_MANAGER_LENGTH} bytes",
            manager, True,
        ))  # fmt: skip
    force_text = query.get("force", "false").lower()
    if force_text not in ("true", "false", "1", "0", ""):
        raise bad_request(f"invalid force parameter: {force_text!r}")
    return manager, force_text in ("true", "1")


def check_apply_type(config: Json, rtype: ResourceType) -> None:
    """An apply body names its ``apiVersion`` and ``kind``, those of the URL (400 if not)."""
    if config.get("apiVersion") != rtype.api_version:
        raise bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{config.get('apiVersion') or ''}, expected: {rtype.api_version}"
        )
    if config.get("kind") != rtype.kind:
        raise bad_request(
            "Incorrect kind specified in apply patch. Specified patch kind: "
            f"{config.get('kind') or ''}, expected: {rtype.kind}"
        )


def merge_applied(
    rtype: ResourceType,
    current: Json,
    config: Json,
    manager: str,
    applied: set[FieldPath],
    force: bool,
) -> Json:
    """The object after ``manager`` applies ``config`` to ``current`` (409 on conflicts)."""
    entries = managers_of(current)
    mine = next((e for e in entries if (e.manager, e.operation) == (manager, "Apply")), None)
    others = [e for e in entries if e is not mine]
    conflicts: dict[str, list[FieldPath]] = {}
    for entry in others:
        for path in sorted(entry.paths & applied):
            if value_at(current, path) != value_at(config, path):
                conflicts.setdefault(entry.manager, []).append(path)
    if conflicts and not force:
        raise apply_conflict(rtype, current["metadata"]["name"], conflicts)
    taken = {p for paths in conflicts.values() for p in paths}
    for entry in others:
        entry.paths -= taken
    still_owned = set().union(*(e.paths for e in others)) if others else set()
    obj = copy.deepcopy(current)
    for path in (mine.paths if mine else set()) - applied - still_owned:
        _delete_path(obj, path)
    for path in applied:
        _set_path(obj, path, copy.deepcopy(value_at(config, path)))
    if mine is None:
        mine = ManagerEntry(manager, "Apply", rtype.api_version, "", set())
        entries.append(mine)
    mine.paths = set(applied)
    mine.time = now_timestamp()
    obj["metadata"]["managedFields"] = [e.render() for e in entries if e.paths]
    return obj


def _set_path(obj: Json, path: FieldPath, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _delete_path(obj: Json, path: FieldPath) -> None:
    parents: list[tuple[Json, str]] = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        parents.append((node, part))
        node = node[part]
    node.pop(path[-1], None)
    for parent, part in reversed(parents):  # drop maps the removal left empty (not metadata)
        if parent[part] or part == "metadata":
            break
        del parent[part]


def _render_path(path: FieldPath) -> str:
    return "".join(f".{part}" for part in path)


def apply_conflict(
    rtype: ResourceType, name: str, conflicts: Mapping[str, list[FieldPath]]
) -> ApiStatusError:
    """409 Conflict for an apply without ``force``, worded as the field manager words it."""
    total = sum(len(paths) for paths in conflicts.values())
    parts: list[str] = []
    causes: list[Json] = []
    for manager, paths in conflicts.items():
        who = f"{quoted(manager)} using {rtype.api_version}"
        if len(paths) == 1:
            parts.append(f"conflict with {who}: {_render_path(paths[0])}")
        else:
            listed = "\n".join(f"- {_render_path(p)}" for p in paths)
            parts.append(f"conflicts with {who}:\n{listed}")
        causes.extend(
            {"reason": "FieldManagerConflict", "message": f"conflict with {who}",
             "field": _render_path(p)}
            for p in paths
        )  # fmt: skip
    plural = "conflict" if total == 1 else "conflicts"
    message = f"Apply failed with {total} {plural}: " + "\n".join(parts)
    details: Json = {"name": name}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    details["causes"] = causes
    return ApiStatusError(409, "Conflict", message, details)


# --------------------------------------------------------------------------------------
# JSON merge patch (and strategic merge patch, treated as one)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` deletes a key; lists are replaced)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
