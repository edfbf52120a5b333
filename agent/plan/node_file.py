"""A node's registries.conf read back as the mirror objects it stands for (pure).

Without API access (``agent plan --registries-conf`` / ``--host-root``) the current
objects are unknown; the node's file is what the MCO rendered from them. Each entry with
mirrors becomes one set per kind of mirror (digest-only: an ImageDigestMirrorSet, or an
ImageContentSourcePolicy before 4.13; tag-only: an ImageTagMirrorSet; a mirror for both
kinds of reference: one of each), a blocked entry with mirrors a ``NeverContactSource``
set, and entries without mirrors the ``insecureRegistries``/``blockedRegistries`` of an
image.config. The proposed objects are then merged with these as the MCO would merge
them with the real ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE
from agent.plan.apply import FileObject
from agent.plan.model import MirrorState, name_of
from agent.registries.model import Configuration, RegistryEntry
from agent.vocabulary import Json

NODE_OBJECT = "node-registries-conf"
_LISTS = {ICSP: "repositoryDigestMirrors", IDMS: "imageDigestMirrors", ITMS: "imageTagMirrors"}
_API = {ICSP: "operator.openshift.io/v1alpha1", IDMS: "config.openshift.io/v1"}


@dataclass(frozen=True)
class NodeObjects:
    state: MirrorState
    notes: tuple[str, ...]
    # blocked scopes read back without knowing whether policy.json rejects them
    unknown_policy: tuple[str, ...] = ()


def _kinds_of(entry: RegistryEntry, version: tuple[int, int]) -> dict[str, list[str]]:
    digest_kind = ICSP if version < (4, 13) else IDMS
    by_kind: dict[str, list[str]] = {}
    for mirror in entry.mirrors:
        if entry.mirror_by_digest_only or mirror.pull_from_mirror == "digest-only":
            kinds = [digest_kind]
        elif mirror.pull_from_mirror == "tag-only":
            kinds = [ITMS]
        else:
            kinds = [digest_kind, ITMS]
        for kind in kinds:
            by_kind.setdefault(kind, []).append(mirror.location)
    return by_kind


def node_objects(config: Configuration, version: tuple[int, int]) -> NodeObjects:
    """The objects a node's effective configuration stands for, under OCP ``version``."""
    sets: dict[str, list[Json]] = {ICSP: [], IDMS: [], ITMS: []}
    insecure: list[str] = []
    blocked: list[str] = []
    notes = []
    for entry in config.registries:
        if entry.location and entry.location != entry.prefix and entry.prefix:
            notes.append(
                f"{entry.prefix}: the node's entry sends it to location {entry.location}, "
                "which no mirror set can express: left out of the plan"
            )
            continue
        scope = entry.prefix or entry.location
        if entry.insecure:
            insecure.append(scope)
        by_kind = _kinds_of(entry, version)
        if ITMS in by_kind and version < (4, 13):
            notes.append(
                f"{scope}: mirrors for tags, which OCP before 4.13 cannot configure: left out"
            )
            del by_kind[ITMS]
        if entry.blocked and (not by_kind or version < (4, 13)):
            blocked.append(scope)
        for kind, mirrors in by_kind.items():
            item: Json = {"source": scope, "mirrors": mirrors}
            if entry.blocked and kind != ICSP:
                item["mirrorSourcePolicy"] = NEVER_CONTACT_SOURCE
            sets[kind].append(item)
        if any(m.pull_from_mirror in ("", "all") for m in entry.mirrors) and not (
            entry.mirror_by_digest_only
        ):
            notes.append(
                f"{scope}: mirrors for every kind of reference (no pull-from-mirror), which the "
                "MCO never renders: read as one digest and one tag mirror set"
            )

    def objects(kind: str) -> tuple[Json, ...]:
        if not sets[kind]:
            return ()
        return (
            {
                "apiVersion": _API.get(kind, "config.openshift.io/v1"),
                "kind": kind,
                "metadata": {"name": NODE_OBJECT},
                "spec": {_LISTS[kind]: sets[kind]},
            },
        )

    registry_sources: Json = {}
    if insecure:
        registry_sources["insecureRegistries"] = insecure
    if blocked:
        registry_sources["blockedRegistries"] = blocked
    image_config: Json = {
        "apiVersion": "config.openshift.io/v1",
        "kind": "Image",
        "metadata": {"name": "cluster"},
        "spec": {"registrySources": registry_sources} if registry_sources else {},
    }
    state = MirrorState(objects(ICSP), objects(IDMS), objects(ITMS), image_config)
    return NodeObjects(state, tuple(notes))


def _file_policies(files: Sequence[FileObject]) -> dict[str, str]:
    """source -> (object, its mirrorSourcePolicy) of each set in the files that is not
    NeverContactSource (an ICSP cannot block)."""
    found: dict[str, str] = {}
    for item in files:
        if item.kind not in _LISTS:
            continue
        spec = item.obj.get("spec")
        sets = spec.get(_LISTS[item.kind]) if isinstance(spec, Mapping) else None
        for one in sets if isinstance(sets, list) else []:
            if not isinstance(one, Mapping) or not isinstance(one.get("source"), str):
                continue
            if one.get("mirrorSourcePolicy") != NEVER_CONTACT_SOURCE:
                found.setdefault(one["source"], f"{item.kind}/{name_of(item.obj)}")
    return found


def _blocked_registries(image_config: Json, more: Sequence[str]) -> Json:
    spec: Any = dict(image_config.get("spec") or {})
    sources = dict(spec.get("registrySources") or {})
    sources["blockedRegistries"] = [*(sources.get("blockedRegistries") or []), *more]
    spec["registrySources"] = sources
    return {**image_config, "spec": spec}


def reconcile_with_files(node: NodeObjects, files: Sequence[FileObject]) -> NodeObjects:
    """A node entry that is blocked and has mirrors is rendered from either an IDMS/ITMS
    with ``NeverContactSource`` or image.config ``blockedRegistries``; the file alone cannot
    tell. Read as the first, a file's set for that source without ``NeverContactSource``
    would be a ``mirrorSourcePolicy`` conflict with an object that does not exist; so such
    sources are read as blocked registries instead (the source stays blocked either way),
    and a note says what happens when the cluster really has ``NeverContactSource``."""
    proposed = _file_policies(files)
    ambiguous: list[str] = []

    def unblocked(objects: tuple[Json, ...], kind: str) -> tuple[Json, ...]:
        result = []
        for obj in objects:
            sets = []
            for one in obj["spec"][_LISTS[kind]]:
                if (
                    one.get("mirrorSourcePolicy") == NEVER_CONTACT_SOURCE
                    and one["source"] in proposed
                ):
                    one = {k: v for k, v in one.items() if k != "mirrorSourcePolicy"}
                    if one["source"] not in ambiguous:
                        ambiguous.append(one["source"])
                sets.append(one)
            result.append({**obj, "spec": {_LISTS[kind]: sets}})
        return tuple(result)

    state = node.state
    idmss, itmss = unblocked(state.idmss, IDMS), unblocked(state.itmss, ITMS)
    if not ambiguous:
        return node
    notes = [
        f"{source}: the node's file blocks it and sends it to mirrors, which an "
        f"ImageDigestMirrorSet/ImageTagMirrorSet with NeverContactSource or image.config "
        f"blockedRegistries renders; {proposed[source]} sets it without NeverContactSource. "
        "Read as blockedRegistries (the source stays blocked). If the cluster has "
        "NeverContactSource for it instead, the MCO refuses to render (conflicting "
        "mirrorSourcePolicy) and the nodes keep their file: check with oc get idms,itms"
        for source in ambiguous
    ]
    image_config = _blocked_registries(state.image_config or {}, ambiguous)
    new_state = replace(state, idmss=idmss, itmss=itmss, image_config=image_config)
    return NodeObjects(new_state, (*node.notes, *notes), tuple(ambiguous))
