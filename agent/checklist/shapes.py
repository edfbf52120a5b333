"""Mirror objects reduced to the shapes the API server accepts (pure).

The API server refuses an ICSP, IDMS, ITMS or image.config whose fields have the wrong
types, so objects read from the cluster always have the right ones; objects from files
(``agent plan -f``) have not been through it. The renderer sees such an object as if
only its well-typed parts were there: a field of the wrong type is dropped, a set that is
not an object becomes an empty one (positions, which messages name, are kept).
``agent.plan.validate`` reports each of them as a schema problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

REGISTRY_LISTS = ("insecureRegistries", "blockedRegistries", "allowedRegistries")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> list[str]:
    return [one for one in value if isinstance(one, str)] if isinstance(value, list) else []


def _mirror_set(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        return {}
    shaped = {key: value for key, value in item.items() if key not in ("source", "mirrors")}
    if isinstance(item.get("source"), str):
        shaped["source"] = item["source"]
    shaped["mirrors"] = _strings(item.get("mirrors"))
    if not isinstance(shaped.get("mirrorSourcePolicy", ""), str):
        del shaped["mirrorSourcePolicy"]
    return shaped


def shaped_mirror_object(obj: Mapping[str, Any], spec_key: str) -> dict[str, Any]:
    """``obj`` (an ICSP, IDMS or ITMS) with only well-typed metadata.name and sets."""
    metadata = dict(_mapping(obj.get("metadata")))
    if not isinstance(metadata.get("name", ""), str):
        del metadata["name"]
    spec = dict(_mapping(obj.get("spec")))
    sets = spec.get(spec_key)
    spec[spec_key] = [_mirror_set(item) for item in sets] if isinstance(sets, list) else []
    return {**obj, "metadata": metadata, "spec": spec}


def shaped_image_config(obj: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """image.config's ``spec.registrySources`` lists, strings only."""
    if obj is None:
        return None
    spec = dict(_mapping(obj.get("spec")))
    sources = dict(_mapping(spec.get("registrySources")))
    for key in REGISTRY_LISTS:
        if key in sources:
            sources[key] = _strings(sources[key])
    spec["registrySources"] = sources
    return {**obj, "spec": spec}
