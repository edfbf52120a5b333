"""Shared helpers of the ports of the Machine Config Operator's and runtime-utils' tests:
the objects as the API returns them, and a rendering as (scope → flags and mirrors), the
shape upstream's expected registries.conf entries have."""

from __future__ import annotations

from typing import Any, Optional

from agent.checklist.mirrors import Rendering, render_registries

DIGEST_ONLY, TAG_ONLY = "digest-only", "tag-only"
# The release the MCO's own tests use where one is needed.
RELEASE_IMAGE = "release-reg.io/image/release@sha256:" + "42" * 32

Sets = tuple[tuple[str, list[str]], ...]


def _items(sets: Sets, policies: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for source, mirrors in sets:
        item: dict[str, Any] = {"source": source, "mirrors": list(mirrors)}
        if policies and source in policies:
            item["mirrorSourcePolicy"] = policies[source]
        items.append(item)
    return items


def icsp(*sets: tuple[str, list[str]], name: str = "icsp") -> dict[str, Any]:
    return {
        "kind": "ImageContentSourcePolicy",
        "metadata": {"name": name},
        "spec": {"repositoryDigestMirrors": _items(sets)},
    }


def idms(
    *sets: tuple[str, list[str]], name: str = "idms", policies: Optional[dict[str, str]] = None
) -> dict[str, Any]:
    return {
        "kind": "ImageDigestMirrorSet",
        "metadata": {"name": name},
        "spec": {"imageDigestMirrors": _items(sets, policies)},
    }


def itms(
    *sets: tuple[str, list[str]], name: str = "itms", policies: Optional[dict[str, str]] = None
) -> dict[str, Any]:
    return {
        "kind": "ImageTagMirrorSet",
        "metadata": {"name": name},
        "spec": {"imageTagMirrors": _items(sets, policies)},
    }


def render(
    version: tuple[int, int],
    *,
    insecure: tuple[str, ...] = (),
    blocked: tuple[str, ...] = (),
    allowed: tuple[str, ...] = (),
    icsps: tuple[dict[str, Any], ...] = (),
    idmss: tuple[dict[str, Any], ...] = (),
    itmss: tuple[dict[str, Any], ...] = (),
    release_image: Optional[str] = None,
) -> Rendering:
    sources = {
        "insecureRegistries": list(insecure),
        "blockedRegistries": list(blocked),
        "allowedRegistries": list(allowed),
    }
    return render_registries(
        list(icsps),
        list(idmss),
        list(itmss),
        version=version,
        image_config={"spec": {"registrySources": sources}},
        release_image=release_image,
    )


def entry(
    *,
    blocked: bool = False,
    insecure: bool = False,
    by_digest_only: bool = False,
    mirrors: tuple[tuple[str, str, bool], ...] = (),
) -> dict[str, Any]:
    """One expected entry: mirrors as (location, pull-from-mirror, insecure)."""
    return {
        "blocked": blocked,
        "insecure": insecure,
        "byDigestOnly": by_digest_only,
        "mirrors": list(mirrors),
    }


def entries(rendering: Rendering) -> dict[str, dict[str, Any]]:
    """scope → entry, as upstream names it: the location, or the prefix of a wildcard."""
    found = {}
    for one in rendering.entries:
        scope = one.prefix if one.prefix.startswith("*.") else one.location
        assert one.prefix == scope or one.prefix.startswith("*."), one
        found[scope] = entry(
            blocked=one.blocked,
            insecure=one.insecure,
            by_digest_only=one.mirror_by_digest_only,
            mirrors=tuple((m.location, m.pull_from_mirror, m.insecure) for m in one.mirrors),
        )
    return found
