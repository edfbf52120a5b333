"""When the Machine Config Operator refuses to render mirror sets and image.config (pure).

Reimplements, from reading the sources, the checks the MCO's container-runtime-config
controller makes before it writes registries.conf and policy.json
(machine-config-operator ``pkg/controller/container-runtime-config/helpers.go``:
``validateRegistriesConfScopes``, the source/mirror patterns, ``updatePolicyJSON``; and
openshift/runtime-utils ``IsValidRegistriesConfScope``), release by release:

* OCP ≤ 4.8: no validation.
* 4.9, 4.10: a scope in ``insecureRegistries``/``blockedRegistries``/``allowedRegistries``
  with ``*`` must have the form ``*.example.com``; an ICSP source or mirror must not
  contain ``*``.
* 4.11, 4.12: also no empty scope, no empty ICSP source or mirror.
* 4.13 … 4.15: the same for IDMS (then ICSP) and ITMS sets, plus one ``mirrorSourcePolicy``
  per source and no ``NeverContactSource`` set that names its source as a mirror.
* 4.16 and later: sources and mirrors must match the MCO's patterns (a host[:port] and
  lowercase path components; a source may instead be a ``*.example.com`` wildcard), which
  rejects empty strings, wildcard mirrors, wildcard sources with a path and surrounding
  spaces.
* 4.13.0 … 4.13.26 and 4.14.0 … 4.14.2: an ICSP together with an IDMS or ITMS
  (``RejectMultiUpdateMirrorSetObjs``; the backports of "support icsp and idms objects",
  machine-config-operator PRs #4027 and #3995, shipped in 4.13.27 and 4.14.3 by the
  OpenShift release notes). With the z-stream unknown this is only a possible refusal.
* Every release: ``allowedRegistries`` together with ``blockedRegistries`` (beyond the
  release payload the MCO itself allows from 4.11).

On any of these the controller stops the sync: no MachineConfig changes, the
MachineConfigPools do not update, and every node keeps the registries.conf it has. The MCO
logs only the first error; all of them are returned here, in the order it checks them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Optional, Union

from agent.checklist.mirror_sets import (
    ALLOW_CONTACTING_SOURCE,
    ICSP,
    IDMS,
    ITMS,
    NEVER_CONTACT_SOURCE,
    SPEC_KEYS,
    MirrorSetKind,
    set_items,
    source_policy,
)

IMAGE: Final = "Image"  # image.config.openshift.io/cluster
# The kind of object a refusal names: a mirror set, or image.config.openshift.io/cluster.
RefusalKind = Union[MirrorSetKind, Literal["Image"]]
# A refusal with its own fix (an ICSP beside IDMS/ITMS objects); "" for the others.
RefusalCode = Literal["", "icsp-with-idms"]

# The MCO's source/mirror patterns (4.16+), written as a grammar: a DNS label, a host with
# an optional port, lowercase path components joined by '.', '_', '__' or dashes.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_MIRROR_PATTERN = re.compile(rf"{_HOST}(?:/{_COMPONENT})*")
_SOURCE_PATTERN = re.compile(rf"\*(?:\.{_LABEL})+|{_HOST}(?:/{_COMPONENT})*")


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings these messages quote (printable text)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Refusal:
    """One reason the MCO refuses to render: the object, its field, the MCO's words."""

    kind: RefusalKind
    name: str
    field: str  # e.g. spec.imageDigestMirrors[0].mirrors[1]
    message: str  # as the machine-config-controller logs it
    detail: str = ""  # why, in our words, when the message does not say
    code: RefusalCode = ""

    @property
    def origin(self) -> str:
        return f"{self.kind}/{self.name}"

    def text(self) -> str:
        why = f" ({self.detail})" if self.detail else ""
        return f"{self.origin} {self.field}: {self.message}{why}"

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "field": self.field,
            "message": self.message,
            "detail": self.detail,
        }


def valid_scope(scope: str, version: tuple[int, int]) -> bool:
    """``IsValidRegistriesConfScope``: a wildcard only as ``*.host``; not empty from 4.11."""
    if scope == "":
        return version < (4, 11)
    if "*" not in scope:
        return True
    return scope.startswith("*.") and not any(ch in scope[2:] for ch in "/@:*")


def valid_source(source: str) -> bool:
    """The MCO's source pattern (4.16+)."""
    return _SOURCE_PATTERN.fullmatch(source) is not None


def valid_mirror(mirror: str) -> bool:
    """The MCO's mirror pattern (4.16+)."""
    return _MIRROR_PATTERN.fullmatch(mirror) is not None


@dataclass(frozen=True)
class _Set:
    kind: MirrorSetKind
    name: str
    index: int
    source: str
    mirrors: tuple[tuple[int, str], ...]
    policy: str

    def field(self, suffix: str = "source") -> str:
        return f"spec.{SPEC_KEYS[self.kind]}[{self.index}].{suffix}"


def _sets(kind: MirrorSetKind, objects: Iterable[Mapping[str, Any]]) -> list[_Set]:
    return [
        _Set(
            kind,
            name,
            index,
            item["source"],
            tuple(
                (position, mirror)
                for position, mirror in enumerate(item.get("mirrors") or [])
                if isinstance(mirror, str)
            ),
            source_policy(kind, item),
        )
        for name, index, item in set_items(kind, objects)
    ]


ICSP_WITH_IDMS: Final = "icsp-with-idms"
# The first z-stream of each minor whose MCO renders ICSP beside IDMS/ITMS (before it the
# controller refuses the combination); minors not listed: 4.15+ always, 4.12- never meet it.
MIXED_KINDS_FIXED_IN = {(4, 13): 27, (4, 14): 3}


def mixed_kinds_refusal(
    version: tuple[int, int],
    z_stream: Optional[int],
    icsps: Sequence[Mapping[str, Any]],
    idmss: Sequence[Mapping[str, Any]],
    itmss: Sequence[Mapping[str, Any]],
) -> Optional[tuple[Refusal, bool]]:
    """The refusal of an ICSP beside IDMS/ITMS objects, and whether it is certain (the
    z-stream is known to be before the fix) or only possible (z-stream unknown)."""
    fixed_in = MIXED_KINDS_FIXED_IN.get(version)
    if fixed_in is None or not icsps or not (idmss or itmss):
        return None
    if z_stream is not None and z_stream >= fixed_in:
        return None
    other = "imagedigestmirrorset" if idmss else "imagetagmirrorset"
    name = str((icsps[0].get("metadata") or {}).get("name", "?"))
    refusal = Refusal(
        ICSP,
        name,
        "kind",
        f"both imagecontentsourcepolicy and {other} exist",
        f"the MCO of {version[0]}.{version[1]}.0 to {version[0]}.{version[1]}.{fixed_in - 1} "
        "refuses ImageContentSourcePolicy objects beside ImageDigestMirrorSet/"
        f"ImageTagMirrorSet objects; {version[0]}.{version[1]}.{fixed_in} renders both",
        ICSP_WITH_IDMS,
    )
    return refusal, z_stream is not None


# A scope of image.config with its index in the object's list (-1: added by the MCO).
Scope = tuple[int, str]


def indexed(scopes: Sequence[str]) -> list[Scope]:
    return list(enumerate(scopes))


def _scope_refusals(
    version: tuple[int, int], lists: Sequence[tuple[str, str, Sequence[Scope]]]
) -> list[Refusal]:
    refusals = []
    for key, label, scopes in lists:
        for index, scope in scopes:
            if not valid_scope(scope, version):
                refusals.append(
                    Refusal(
                        IMAGE,
                        "cluster",
                        f"spec.registrySources.{key}[{index}]",
                        f"invalid entry for {label} registries {go_quote(scope)}",
                    )
                )
    return refusals


def _set_refusals(version: tuple[int, int], one: _Set, seen: dict[str, str]) -> list[Refusal]:
    """The checks of one set, in the MCO's order: the source, its ``mirrorSourcePolicy``
    against earlier sets of the source (4.13+), then each mirror."""

    def refusal(field: str, message: str) -> Refusal:
        return Refusal(one.kind, one.name, field, message)

    found = []
    wildcard = "wildcard entries are not supported with mirror configuration"
    if version >= (4, 16):
        if not valid_source(one.source):
            found.append(refusal(one.field(), f"invalid format for source {go_quote(one.source)}"))
    elif one.source == "" and version >= (4, 11):
        found.append(refusal(one.field(), "invalid empty entry for source configuration"))
    elif "*" in one.source:
        found.append(refusal(one.field(), f"{wildcard} {go_quote(one.source)}"))
    with_policy = version >= (4, 13)
    policy = one.policy or ALLOW_CONTACTING_SOURCE
    if with_policy and seen.setdefault(one.source, policy) != policy:
        where = (
            "imagedigestmirrorsets, imagetagmirrorsets, or imagecontentsourcepolicies"
            if version >= (4, 15)
            else "imagedigestmirrorsets and/or imagetagmirrorsets"
        )
        found.append(
            refusal(
                one.field("mirrorSourcePolicy"),
                "conflicting mirrorSourcePolicy is set for the same source "
                f"{go_quote(one.source)} in {where}",
            )
        )
    for position, mirror in one.mirrors:
        field = one.field(f"mirrors[{position}]")
        if version >= (4, 16):
            if not valid_mirror(mirror):
                found.append(refusal(field, f"invalid format for mirror {go_quote(mirror)}"))
        elif mirror == "" and version >= (4, 11):
            found.append(refusal(field, "invalid empty entry for mirror configuration"))
        elif "*" in mirror:
            found.append(refusal(field, f"{wildcard} {go_quote(mirror)}"))
        if with_policy and policy == NEVER_CONTACT_SOURCE and mirror == one.source:
            found.append(
                refusal(
                    field,
                    "cannot set mirrorSourcePolicy: NeverContactSource if the source "
                    f"{go_quote(one.source)} is one of the mirrors",
                )
            )
    return found


def validate_scopes(
    version: tuple[int, int],
    insecure: Sequence[Scope],
    blocked: Sequence[Scope],
    allowed: Sequence[Scope],
    icsps: Iterable[Mapping[str, Any]] = (),
    idmss: Iterable[Mapping[str, Any]] = (),
    itmss: Iterable[Mapping[str, Any]] = (),
) -> list[Refusal]:
    """``validateRegistriesConfScopes`` of OCP ``version`` (none before 4.9): the scopes,
    then ICSP sets (≤ 4.12), or IDMS, ICSP and ITMS sets (4.13+)."""
    if version < (4, 9):
        return []
    refusals = _scope_refusals(
        version,
        [
            ("insecureRegistries", "insecure", insecure),
            ("blockedRegistries", "blocked", blocked),
            ("allowedRegistries", "allowed", allowed),
        ],
    )
    if version < (4, 13):
        ordered = _sets(ICSP, icsps)
    else:
        ordered = [*_sets(IDMS, idmss), *_sets(ICSP, icsps), *_sets(ITMS, itmss)]
    seen: dict[str, str] = {}
    for one in ordered:
        refusals += _set_refusals(version, one, seen)
    return refusals


def registries_refusals(
    version: tuple[int, int],
    icsps: Iterable[Mapping[str, Any]],
    idmss: Iterable[Mapping[str, Any]],
    itmss: Iterable[Mapping[str, Any]],
    insecure: Sequence[Scope],
    blocked: Sequence[Scope],
) -> list[Refusal]:
    """What ``updateRegistriesConfig`` refuses; ``blocked`` is the list the MCO keeps after
    sparing the release payload."""
    return validate_scopes(version, insecure, blocked, [], icsps, idmss, itmss)


def policy_refusals(
    version: tuple[int, int],
    policy_blocked: Sequence[Scope],
    allowed: Sequence[Scope],
    payload_repository: Optional[str],
) -> list[Refusal]:
    """What ``updatePolicyJSON`` refuses (policy.json is written in the same sync).

    ``policy_blocked`` and ``allowed`` are the lists the MCO derives from image.config
    (from 4.11 the payload repository is allowed when a blocked scope covers it)."""
    refusals = []
    if allowed and policy_blocked:
        only_payload = (
            version >= (4, 11)
            and payload_repository is not None
            and [scope for _, scope in allowed] == [payload_repository]
        )
        if not only_payload:
            refusals.append(
                Refusal(
                    IMAGE,
                    "cluster",
                    "spec.registrySources",
                    "invalid images config: only one of AllowedRegistries or BlockedRegistries "
                    "may be specified",
                )
            )
    if policy_blocked or allowed:
        refusals += validate_scopes(version, [], policy_blocked, allowed)
    return refusals
