"""Typed data of ``agent plan`` (pure): the mirror state, validation problems, the per-image
before/after routes and the kinds of change between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS
from agent.vocabulary import Json, SourceKind

MIRROR_KINDS = (ICSP, IDMS, ITMS)
IMAGE_CONFIG_KIND = "Image"  # image.config.openshift.io/cluster
IMAGE_CONFIG_NAME = "cluster"


@dataclass(frozen=True)
class MirrorState:
    """The objects the MCO renders registries.conf from; each list as the API returns it."""

    icsps: tuple[Json, ...] = ()
    idmss: tuple[Json, ...] = ()
    itmss: tuple[Json, ...] = ()
    image_config: Optional[Json] = None
    flags_known: bool = True  # image.config could be read (insecure/blocked registries)

    def objects(self, kind: str) -> tuple[Json, ...]:
        return {ICSP: self.icsps, IDMS: self.idmss, ITMS: self.itmss}[kind]

    def by_key(self) -> dict[tuple[str, str], Json]:
        """Every object by (kind, name); image.config as ("Image", "cluster")."""
        found = {(kind, name_of(obj)): obj for kind in MIRROR_KINDS for obj in self.objects(kind)}
        if self.image_config is not None:
            found[(IMAGE_CONFIG_KIND, IMAGE_CONFIG_NAME)] = self.image_config
        return found


def name_of(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """What the API server or the MCO would refuse (error), or accept against intent."""

    object: str  # Kind/name
    field: str  # e.g. spec.imageDigestMirrors[0].mirrors[1]
    rule: str  # a stable identifier (docs/commands.md lists them)
    message: str
    severity: Severity = "error"
    effect: str = ""  # a warning's consequence when applied (e.g. "dropped by the MCO")

    def text(self) -> str:
        effect = f" ({self.effect})" if self.effect else ""
        return f"{self.object}: {self.field}: {self.message} [{self.rule}]{effect}"

    def to_json(self) -> Json:
        return {
            "object": self.object,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
            "severity": self.severity,
            "effect": self.effect,
        }


ActionKind = Literal["created", "configured", "unchanged", "deleted"]


@dataclass(frozen=True)
class Action:
    """What ``oc apply -f`` (or ``oc delete``) would do to one object."""

    kind: str
    name: str
    action: ActionKind
    origin: str  # FILE (document N), or --delete

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    def to_json(self) -> Json:
        return {"kind": self.kind, "name": self.name, "action": self.action, "from": self.origin}


@dataclass(frozen=True)
class Hop:
    """One place a pull tries: a mirror or the source, blocked or not."""

    location: str
    kind: SourceKind
    blocked: bool = False
    insecure: bool = False

    def to_json(self) -> Json:
        return {
            "location": self.location,
            "kind": self.kind,
            "blocked": self.blocked,
            "insecure": self.insecure,
        }


@dataclass(frozen=True)
class Route:
    """How one image is pulled under one registries.conf."""

    entry: Optional[str]  # the matching prefix
    hops: tuple[Hop, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (location, reason)
    problem: Optional[str] = None  # a rewrite error: the pull fails before any source
    rejected: Optional[str] = None  # policy.json rejects the image asked for

    @property
    def resolves(self) -> bool:
        return (
            self.problem is None
            and self.rejected is None
            and any(not hop.blocked for hop in self.hops)
        )

    @property
    def mirrors(self) -> tuple[str, ...]:
        return tuple(hop.location for hop in self.hops if hop.kind == "mirror")

    @property
    def source(self) -> Optional[Hop]:
        return next((hop for hop in self.hops if hop.kind == "source"), None)

    def to_json(self) -> Json:
        return {
            "entry": self.entry,
            "sources": [hop.to_json() for hop in self.hops],
            "skippedMirrors": [{"location": loc, "reason": why} for loc, why in self.skipped],
            "problem": self.problem,
            "rejectedByPolicy": self.rejected,
            "resolves": self.resolves,
        }


ChangeKind = Literal[
    "mirror-added",
    "mirror-removed",
    "mirror-moved",
    "newly-skipped",
    "no-longer-skipped",
    "source-blocked",
    "source-reachable",
    "entry-changed",
    "no-longer-resolves",
    "rejected-by-policy",
    "now-resolves",
]
BREAKING: tuple[ChangeKind, ...] = ("no-longer-resolves", "rejected-by-policy")


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    detail: str
    location: Optional[str] = None  # the mirror or source the change is about

    @property
    def breaking(self) -> bool:
        return self.kind in BREAKING

    def to_json(self) -> Json:
        return {"kind": self.kind, "detail": self.detail, "location": self.location}


# Where a planned image came from: the command line, or the nodes' reports (--from-reports).
ImageOrigin = Literal["given", "reports"]


@dataclass(frozen=True)
class ImagePlan:
    image: str  # as given
    reference: str  # as pulled (normalised)
    before: Route
    after: Route
    changes: tuple[Change, ...] = ()
    origin: ImageOrigin = "given"

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)

    def to_json(self) -> Json:
        return {
            "image": self.image,
            "reference": self.reference,
            "from": self.origin,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "changes": [change.to_json() for change in self.changes],
            "breaking": self.breaking,
        }


@dataclass(frozen=True)
class RuleChange:
    """One registries.conf entry (by prefix) whose rules differ between before and after."""

    prefix: str
    before: str  # the rules as text, "-" when there is no entry
    after: str
    images: tuple[str, ...] = ()  # the planned images this entry matches (after, or before)

    def to_json(self) -> Json:
        return {
            "prefix": self.prefix,
            "before": self.before,
            "after": self.after,
            "images": list(self.images),
        }


ProbeOutcome = Literal["present", "missing", "error"]


@dataclass(frozen=True)
class ProbeResult:
    """A mirror the proposal introduces, asked directly whether it holds an image."""

    image: str
    location: str  # mirror repository @ digest
    outcome: ProbeOutcome
    message: str = ""

    def to_json(self) -> Json:
        return {
            "image": self.image,
            "location": self.location,
            "outcome": self.outcome,
            "message": self.message,
        }


# What the plan compares: the cluster's objects, or one node's registries.conf (offline).
PlanMode = Literal["cluster", "registries-conf"]


@dataclass(frozen=True)
class Plan:
    version: tuple[int, int]
    version_text: str
    version_from: str
    mode: PlanMode
    actions: tuple[Action, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    rules: tuple[RuleChange, ...] = ()
    images: tuple[ImagePlan, ...] = ()
    unexercised: tuple[str, ...] = ()  # changed prefixes that no planned image matches
    probes: tuple[ProbeResult, ...] = ()
    not_probed: tuple[tuple[str, str], ...] = ()  # (image, why)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def invalid(self) -> bool:
        return any(problem.severity == "error" for problem in self.problems)

    @property
    def breaking(self) -> tuple[ImagePlan, ...]:
        return tuple(image for image in self.images if image.breaking)

    @property
    def failed_probes(self) -> tuple[ProbeResult, ...]:
        return tuple(probe for probe in self.probes if probe.outcome != "present")
