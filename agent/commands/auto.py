"""``check --auto``: one image per mirrored entry, picked from what the node holds by digest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent import reference as references
from agent.reference import GivenImage, ImageReference
from agent.registries.model import Configuration, RegistryEntry
from agent.registries.resolve import find_entry
from agent.report import NotVerified

_TAG_ONLY_UNVERIFIED = (
    'every mirror is pull-from-mirror = "tag-only" (ImageTagMirrorSet): a pull by digest '
    "skips them all, so no image held by digest can verify them; check a tag with --image"
)


def repo_digests(records: Iterable[dict[str, Any]]) -> list[str]:
    """``repository@<digest>`` of every image of a containers/storage images.json: each
    name's repository with each manifest digest the image was stored under (what podman
    shows as RepoDigests)."""
    found: list[str] = []
    for record in records:
        digests = [record.get("digest"), *(record.get("digests") or [])]
        digests += [
            key[len("manifest-") :]
            for key in record.get("big-data-names") or []
            if isinstance(key, str) and references.is_digest(key[len("manifest-") :])
        ]
        for name in record.get("names") or []:
            if not isinstance(name, str):
                continue
            repository = name.split("@", 1)[0]
            if ":" in repository.rsplit("/", 1)[-1]:
                repository = repository.rsplit(":", 1)[0]  # the tag
            for digest in digests:
                if isinstance(digest, str) and references.is_digest(digest):
                    pinned = f"{repository}@{digest}"
                    if pinned not in found:
                        found.append(pinned)
    return found


def _digest_pull_uses_mirrors(entry: RegistryEntry) -> bool:
    """Does a pull by digest try any of the entry's mirrors? Not when all are tag-only."""
    return any(
        entry.mirror_by_digest_only or mirror.pull_from_mirror != "tag-only"
        for mirror in entry.mirrors
    )


def auto_images(
    config: Configuration, held: Iterable[str]
) -> tuple[list[GivenImage], list[NotVerified]]:
    """One image per mirrored entry that the node holds by digest and that entry resolves.

    An entry whose mirrors are all tag-only (ImageTagMirrorSet) is listed as not verified
    instead: a digest pull would skip every mirror and only reach the source. Tags the node
    holds are not used for it: pulling a tag into the node's own store (``--storage node``)
    re-resolves it and may move it to another image under CRI-O's feet.
    """
    chosen: dict[str, ImageReference] = {}
    for name in sorted(held):
        try:
            parsed = references.parse_normalized(name)
        except references.ReferenceError:
            continue
        entry = find_entry(config, parsed.name)
        if (
            entry is not None
            and entry.mirrors
            and entry.prefix not in chosen
            and _digest_pull_uses_mirrors(entry)
        ):
            chosen[entry.prefix] = parsed.for_pull()
    images: list[GivenImage] = []
    missing: list[NotVerified] = []
    for entry in config.registries:
        if not entry.mirrors:
            continue
        if entry.prefix in chosen:
            images.append(GivenImage(str(chosen[entry.prefix]), chosen[entry.prefix]))
        elif not _digest_pull_uses_mirrors(entry):
            missing.append(NotVerified(entry.prefix, _TAG_ONLY_UNVERIFIED))
        else:
            missing.append(
                NotVerified(
                    entry.prefix, "the node holds no image by digest that this entry resolves"
                )
            )
    return images, missing
