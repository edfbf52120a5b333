"""The nodes' policy.json as the MCO writes it from image.config, judged per image (pure).

containers/image checks the signature policy against the reference a pull was asked for
(the logical reference), never against the mirror that serves it: an image outside every
``allowedRegistries`` scope, or inside a ``blockedRegistries`` scope the MCO writes to
policy.json, is rejected whichever mirror holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from agent import reference
from agent.checklist.mirror_sets import scope_nested
from agent.checklist.mirrors import Rendering


@dataclass(frozen=True)
class PullPolicy:
    allowed: tuple[str, ...] = ()  # empty: no allow list (default accept)
    blocked: tuple[str, ...] = ()  # rejected scopes
    exempt: Optional[str] = None  # the payload repository, allowed inside a blocked scope

    def rejection(self, name: str) -> Optional[str]:
        """Why policy.json rejects a pull of repository ``name``, or None."""
        if self.allowed and not any(scope_nested(name, scope) for scope in self.allowed):
            return (
                f"rejected by policy: {name} is in no allowedRegistries scope of "
                "image.config.openshift.io/cluster (policy.json judges the image asked for, "
                "not the mirror that serves it)"
            )
        if name == self.exempt:
            return None
        scope = next((s for s in self.blocked if scope_nested(name, s)), None)
        if scope is not None:
            return (
                f"rejected by policy: {name} is inside blockedRegistries scope {scope} of "
                "image.config.openshift.io/cluster, which policy.json rejects whichever mirror "
                "serves it"
            )
        return None


def pull_policy(
    image_config: Optional[Mapping[str, Any]],
    rendering: Rendering,
    version: tuple[int, int],
    release_image: Optional[str],
    unknown: Sequence[str] = (),
) -> PullPolicy:
    """The scopes policy.json rejects; blocked scopes only those the MCO kept (a scope that
    would block the payload without a mirror is left out of both files), minus ``unknown``
    (scopes read back from a node's registries.conf that policy.json may not reject)."""
    spec = (image_config or {}).get("spec")
    sources = spec.get("registrySources") if isinstance(spec, Mapping) else None
    if not isinstance(sources, Mapping):
        return PullPolicy()

    def strings(key: str) -> tuple[str, ...]:
        values = sources.get(key)
        return (
            tuple(v for v in values if isinstance(v, str) and v) if isinstance(values, list) else ()
        )

    blocked = tuple(
        scope
        for scope in strings("blockedRegistries")
        if (entry := rendering.entry(scope)) is not None and entry.blocked and scope not in unknown
    )
    exempt = None
    if release_image and version >= (4, 11):
        try:
            exempt = reference.parse_normalized(release_image).name
        except reference.ReferenceError:
            exempt = None
    return PullPolicy(strings("allowedRegistries"), blocked, exempt)
