"""The proposed state: the current objects with the files' objects applied as ``oc apply -f``
would apply them (pure).

``oc apply`` creates an object that does not exist and otherwise patches it; for these
custom resources the patch replaces each list it names (``imageDigestMirrors`` and the
like) as a whole, so a mirror set's ``spec`` from the file replaces the object's. For
``image.config.openshift.io/cluster``, whose spec has many independent keys, the 3-way
merge is modelled: keys the file sets win, keys in the live object's
last-applied-configuration but not in the file are removed, other keys stay.
``--delete NAME`` models ``oc delete``. Kinds other than the mirror sets and
``image.config.openshift.io/cluster`` do not change registries.conf and are listed as ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS
from agent.documents import DocumentError, parse_yaml_all
from agent.errors import UsageError
from agent.plan.model import (
    IMAGE_CONFIG_KIND,
    IMAGE_CONFIG_NAME,
    MIRROR_KINDS,
    Action,
    MirrorState,
    Problem,
    name_of,
)
from agent.vocabulary import Json

SHORT_KINDS = {
    "icsp": ICSP,
    "imagecontentsourcepolicy": ICSP,
    "idms": IDMS,
    "imagedigestmirrorset": IDMS,
    "itms": ITMS,
    "imagetagmirrorset": ITMS,
}


@dataclass(frozen=True)
class FileObject:
    """One object of a file, with where it came from (for messages)."""

    obj: Json
    origin: str  # "FILE (document N)"

    @property
    def kind(self) -> str:
        kind = self.obj.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def label(self) -> str:
        return f"{self.kind or '?'}/{name_of(self.obj) or '?'}"


def parse_documents(text: str, path: str) -> list[FileObject]:
    """The objects of a YAML or JSON file as ``oc apply -f`` reads it: every document,
    and the items of a ``List``. UsageError naming the file and line when it is not."""
    try:
        documents = parse_yaml_all(text, path)  # nesting bounded
    except DocumentError as exc:
        raise UsageError(str(exc)) from None
    found: list[FileObject] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue  # an empty document (a leading ---)
        origin = f"{path} (document {index})"
        if not isinstance(document, dict):
            raise UsageError(f"{origin}: expected an object with kind and metadata")
        if str(document.get("kind", "")).endswith("List") and isinstance(
            document.get("items"), list
        ):
            for number, item in enumerate(document["items"]):
                if not isinstance(item, dict):
                    raise UsageError(f"{origin}: items[{number}] is not an object")
                found.append(FileObject(item, f"{origin} items[{number}]"))
            continue
        found.append(FileObject(document, origin))
    if not found:
        raise UsageError(f"{path}: no object in the file")
    return found


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(live: Mapping[str, Any]) -> Json:
    metadata = live.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def three_way_merge(
    live: Mapping[str, Any], last: Mapping[str, Any], new: Mapping[str, Any], path: str = ""
) -> tuple[Json, list[str], list[str]]:
    """``oc apply``'s merge of a custom resource (a JSON merge patch computed from the
    last-applied configuration): (merged, keys kept from the live object, keys removed)."""
    merged: Json = dict(live)
    kept: list[str] = []
    removed: list[str] = []
    for key, value in new.items():
        inner = f"{path}.{key}" if path else key
        if value is None:
            if key in merged:
                removed.append(inner)
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(live.get(key), Mapping):
            previous = last.get(key)
            merged[key], more_kept, more_removed = three_way_merge(
                live[key], previous if isinstance(previous, Mapping) else {}, value, inner
            )
            kept += more_kept
            removed += more_removed
        else:
            merged[key] = value
    for key in live:
        if key in new:
            continue
        inner = f"{path}.{key}" if path else key
        if key in last:
            removed.append(inner)
            merged.pop(key)
        elif path:  # top-level metadata/status are not the user's keys
            kept.append(inner)
    return merged, kept, removed


def _merge_image_config(live: Json, new: Json, origin: str) -> tuple[Json, str]:
    merged, kept, removed = three_way_merge(
        _without_status(live),
        _last_applied(live),
        {k: v for k, v in new.items() if k != "metadata"},
    )
    merged["metadata"] = live.get("metadata") or new.get("metadata")
    spec_kept = [key for key in kept if key.startswith("spec.")]
    spec_removed = [key for key in removed if key.startswith("spec.")]
    note = (
        f"Image/cluster ({origin}): merged into the live object as oc apply does (keys the "
        "file sets replace the live ones, lists as a whole): "
        + (f"kept from the live object: {', '.join(spec_kept)}" if spec_kept else "nothing kept")
        + (
            f"; removed (in last-applied-configuration, not in the file): {', '.join(spec_removed)}"
            if spec_removed
            else ""
        )
    )
    return merged, note


def _same(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    return first.get("spec") == second.get("spec")


def _without_status(obj: Mapping[str, Any]) -> Json:
    return {key: value for key, value in obj.items() if key != "status"}


def resolve_delete(target: str, objects: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """``NAME`` or ``KIND/NAME`` (icsp, idms, itms or the full kind) → (kind, name)."""
    known = list(objects)
    if "/" in target:
        kind_text, name = target.split("/", 1)
        kind = SHORT_KINDS.get(kind_text.lower())
        if kind is None:
            raise UsageError(
                f"--delete {target}: unknown kind {kind_text!r} (use icsp, idms or itms)"
            )
        if (kind, name) not in known:
            raise UsageError(f"--delete {target}: there is no {kind} named {name!r}")
        return kind, name
    matches = [(kind, name) for kind, name in known if name == target and kind in MIRROR_KINDS]
    if not matches:
        raise UsageError(f"--delete {target}: no ICSP, IDMS or ITMS is named {target!r}")
    if len(matches) > 1:
        kinds = ", ".join(kind for kind, _ in matches)
        raise UsageError(
            f"--delete {target}: several kinds have this name ({kinds}): use KIND/NAME"
        )
    return matches[0]


def _refused_by_oc_apply(item: FileObject, previous: Any) -> Optional[Problem]:
    """What ``oc apply`` (or the API server) refuses of the object as the file has it:
    no apiVersion, or no spec (these kinds require one; ``spec: null`` deletes it)."""
    if not item.obj.get("apiVersion"):
        return Problem(
            item.label,
            "apiVersion",
            "api-version",
            f"apiVersion is not set ({item.origin}): oc apply refuses the object "
            "(Object 'apiVersion' is missing)",
        )
    has_spec = "spec" in item.obj
    if (has_spec and item.obj["spec"] is None) or (not has_spec and not previous):
        return Problem(
            item.label,
            "spec",
            "schema",
            f"spec is {'null' if has_spec else 'missing'} ({item.origin}): the API "
            "server refuses the object (spec: Required value)",
        )
    return None


@dataclass(frozen=True)
class Applied:
    state: MirrorState
    actions: tuple[Action, ...]
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]

    @property
    def touched(self) -> frozenset[str]:
        """Kind/name of every object the files or --delete change."""
        return frozenset(a.label for a in self.actions if a.action != "unchanged")


def apply_objects(
    current: MirrorState, files: Sequence[FileObject], deletes: Sequence[str] = ()
) -> Applied:
    """The proposed state, and what ``oc apply -f`` would say for each object."""
    objects = current.by_key()
    actions: list[Action] = []
    problems: list[Problem] = []
    notes: list[str] = []
    applied: dict[tuple[str, str], str] = {}
    for item in files:
        kind, name = item.kind, name_of(item.obj)
        if not kind:
            problems.append(Problem(item.origin, "kind", "kind-required", "the object has no kind"))
            continue
        if kind not in (*MIRROR_KINDS, IMAGE_CONFIG_KIND):
            notes.append(f"{item.label} ({item.origin}): not a mirror set, ignored by the plan")
            continue
        if not name:
            problems.append(
                Problem(f"{kind}/?", "metadata.name", "name-required", f"no name ({item.origin})")
            )
            continue
        if kind == IMAGE_CONFIG_KIND and name != IMAGE_CONFIG_NAME:
            notes.append(
                f"{item.label} ({item.origin}): only the Image named cluster configures "
                "registries; ignored"
            )
            continue
        key = (kind, name)
        refused = _refused_by_oc_apply(item, previous=objects.get(key))
        if refused is not None:
            problems.append(refused)
            continue
        if key in applied:
            notes.append(
                f"{item.label} is in {applied[key]} and again in {item.origin}: the later wins"
            )
        previous = objects.get(key)
        new = _without_status(item.obj)
        if kind == IMAGE_CONFIG_KIND and previous is not None:
            new, merge_note = _merge_image_config(previous, new, item.origin)
            notes.append(merge_note)
        if previous is None:
            action = "created"
        elif _same(previous, new):
            action = "unchanged"
        else:
            action = "configured"
        objects[key] = new
        applied[key] = item.origin
        actions.append(Action(kind, name, action, item.origin))  # type: ignore[arg-type]
    for target in deletes:
        kind, name = resolve_delete(target, objects)
        del objects[(kind, name)]
        actions.append(Action(kind, name, "deleted", "--delete"))
    state = MirrorState(
        icsps=_of_kind(objects, ICSP),
        idmss=_of_kind(objects, IDMS),
        itmss=_of_kind(objects, ITMS),
        image_config=objects.get((IMAGE_CONFIG_KIND, IMAGE_CONFIG_NAME)),
        flags_known=current.flags_known
        or (IMAGE_CONFIG_KIND, IMAGE_CONFIG_NAME) in {(a.kind, a.name) for a in actions},
    )
    return Applied(state, tuple(actions), tuple(problems), tuple(notes))


def _of_kind(objects: Mapping[tuple[str, str], Json], kind: str) -> tuple[Json, ...]:
    return tuple(obj for (k, name), obj in sorted(objects.items()) if k == kind)
