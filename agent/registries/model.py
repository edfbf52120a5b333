"""Typed data for registries.conf: parsed files, the merged configuration, pull sources."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from agent.reference import ImageReference
from agent.vocabulary import SourceKind

PULL_FROM_MIRROR_VALUES = ("", "all", "digest-only", "tag-only")
SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")
DEFAULT_SHORT_NAME_MODE = "permissive"
DEFAULT_CREDENTIAL_HELPERS = ("containers-auth.json",)


@dataclass(frozen=True)
class Compat:
    """Which containers/image release to imitate where released versions differ (§11)."""

    containers_image: tuple[int, int] = (5, 39)

    @property
    def empty_v1_arrays_count(self) -> bool:
        """From 5.24.0 an empty v1 array (``registries = []``) still makes a file v1."""
        return self.containers_image >= (5, 24)

    @property
    def knows_layer_store_auth_helper(self) -> bool:
        """``additional-layer-store-auth-helper`` is a field from 5.32.0; before, an unknown key."""
        return self.containers_image >= (5, 32)

    @property
    def skips_vanished_drop_ins(self) -> bool:
        """From 5.34.0 a drop-in that cannot be found when opened is skipped, not an error."""
        return self.containers_image >= (5, 34)

    @property
    def trims_mirror_trailing_slash(self) -> bool:
        """From 5.35.0 mirror locations are canonicalised like registry locations."""
        return self.containers_image >= (5, 35)

    @property
    def label(self) -> str:
        """The releases whose registries.conf handling this imitates."""
        if self.containers_image < (5, 24):
            return "containers/image <= 5.23 (podman <= 4.3)"
        if self.containers_image < (5, 35):
            return "containers/image 5.24-5.34 (podman 4.4-5.4)"
        return "containers/image >= 5.35 (podman >= 5.5)"


CURRENT = Compat()
LEGACY_PODMAN_4_3 = Compat((5, 23))


def compat_for_podman(version: str) -> Compat:
    """The registries.conf behaviour of a podman release (``4.3.1``, ``5.4.0-dev``...).

    The mapping is coarse: podman 4.4 moved to containers/image 5.24, podman 5.5 to 5.35.
    Podman 4.4-5.4 are all imitated as 5.24, so changes made inside that range (5.32: the
    ``additional-layer-store-auth-helper`` key; 5.34: vanished drop-ins skipped) only
    apply from podman 5.5 here; ``Compat`` itself gates each on its exact release.
    """
    match = re.match(r"v?(\d+)\.(\d+)", version.strip())
    if not match:
        raise ValueError(f"not a podman version: {version!r}")
    podman = (int(match.group(1)), int(match.group(2)))
    if podman < (4, 4):
        return Compat((5, 23))
    if podman < (5, 5):
        return Compat((5, 24))
    return CURRENT


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = ""


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table after validation and normalisation."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Mirror, ...] = ()
    origin: str = ""

    @property
    def is_wildcard(self) -> bool:
        return self.prefix.startswith("*.")

    def canonical(self) -> dict[str, Any]:
        """The entry's settings, as the fingerprint and the JSON outputs show them."""
        return {
            "prefix": self.prefix,
            "location": self.location,
            "insecure": self.insecure,
            "blocked": self.blocked,
            "mirrorByDigestOnly": self.mirror_by_digest_only,
            "mirrors": [
                {
                    "location": mirror.location,
                    "insecure": mirror.insecure,
                    "pullFromMirror": mirror.pull_from_mirror,
                }
                for mirror in self.mirrors
            ],
        }

    @property
    def label(self) -> str:
        """How errors and tables name this entry."""
        if self.location and self.location != self.prefix:
            return f"prefix {self.prefix!r} (location {self.location!r})"
        return f"{self.prefix!r}"


@dataclass(frozen=True)
class Alias:
    value: str  # "" erases an alias defined by an earlier file
    origin: str


@dataclass(frozen=True)
class RepeatedKey:
    """A key assigned twice in one table, which podman loads: the value at ``line`` wins.

    TOML forbids it; the Go decoder of every containers/image release so far accepts it
    when either value is an array (see ``repeated.py``). The author rarely meant it.
    """

    key: str  # dotted, with array-table indexes: "registry[0].mirror"
    line: int
    earlier_line: int


@dataclass(frozen=True)
class FileConfig:
    """One file, decoded and validated on its own (before merging)."""

    path: str
    registries: tuple[RegistryEntry, ...] = ()
    # None means the key was absent, which matters for merging (an empty list clears).
    unqualified_search_registries: Optional[tuple[str, ...]] = None
    credential_helpers: Optional[tuple[str, ...]] = None
    short_name_mode: str = ""
    additional_layer_store_auth_helper: str = ""
    aliases: tuple[tuple[str, str], ...] = ()
    ignored_keys: tuple[str, ...] = ()
    repeated_keys: tuple[RepeatedKey, ...] = ()
    format_version: int = 2


@dataclass(frozen=True)
class Configuration:
    """The effective configuration after every file has been merged."""

    files: tuple[str, ...] = ()
    registries: tuple[RegistryEntry, ...] = ()  # sorted by prefix, byte order
    unqualified_search_registries: tuple[str, ...] = ()
    unqualified_search_registries_origin: Optional[str] = None
    credential_helpers: tuple[str, ...] = DEFAULT_CREDENTIAL_HELPERS
    short_name_mode: str = DEFAULT_SHORT_NAME_MODE
    additional_layer_store_auth_helper: str = ""
    aliases: tuple[tuple[str, Alias], ...] = ()  # sorted by name; only non-empty values
    ignored_keys: tuple[tuple[str, str], ...] = ()  # (file, dotted key)
    repeated_keys: tuple[tuple[str, RepeatedKey], ...] = ()  # (file, key)
    compat: Compat = field(default=CURRENT)

    def alias(self, name: str) -> Optional[Alias]:
        for alias_name, alias in self.aliases:
            if alias_name == name:
                return alias
        return None

    def canonical(self) -> dict[str, Any]:
        """The effective settings only: no file names, comments, formatting or key order."""
        return {
            "registries": [entry.canonical() for entry in self.registries],
            "unqualifiedSearchRegistries": list(self.unqualified_search_registries),
            "shortNameMode": self.short_name_mode,
            "credentialHelpers": list(self.credential_helpers),
            "additionalLayerStoreAuthHelper": self.additional_layer_store_auth_helper,
            "aliases": {name: alias.value for name, alias in self.aliases},
        }

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PullSource:
    """One place a pull tries, in order; ``location`` is exactly what podman logs."""

    location: str
    kind: SourceKind
    insecure: bool
    blocked: bool
    reference: ImageReference  # ``location``, parsed (what a probe of this source asks for)
    blocked_by: Optional[str] = None  # prefix of the blocked entry that refuses it


@dataclass(frozen=True)
class SkippedMirror:
    location: str
    reason: str


# Where a short name's candidate came from.
CandidateOrigin = Literal["alias", "unqualified-search-registries"]
# Where explaining a reference stopped: "reference" is bad input.
ProblemStage = Literal["reference", "short-name", "rewrite"]


@dataclass(frozen=True)
class Problem:
    """Why sources could not be computed for one reference."""

    kind: str
    stage: ProblemStage
    message: str


@dataclass(frozen=True)
class Resolution:
    """The ordered sources for one fully qualified reference.

    A short-name candidate whose sources cannot be computed (a rewrite error) has a
    ``problem`` and no sources: podman records that candidate's error and goes on.
    """

    reference: str  # normalised, as podman pulls it
    entry: Optional[RegistryEntry]
    pull_sources: tuple[PullSource, ...]
    skipped_mirrors: tuple[SkippedMirror, ...] = ()
    problem: Optional[Problem] = None

    @property
    def matched_prefix(self) -> Optional[str]:
        return self.entry.prefix if self.entry else None


@dataclass(frozen=True)
class ShortNameCandidate:
    """A fully qualified name a short name expands to, and where it came from."""

    reference: str
    origin: CandidateOrigin
    parsed: ImageReference  # ``reference``, parsed (what its pull sources are worked out from)
    origin_file: Optional[str] = None


@dataclass(frozen=True)
class Explanation:
    """Everything ``agent explain`` says about one reference."""

    given: str
    normalized: Optional[str] = None
    # One resolution per candidate: a fully qualified reference has exactly one (none when
    # it has a problem); a short name one per candidate, in order, failed ones included.
    resolutions: tuple[Resolution, ...] = ()
    candidates: tuple[ShortNameCandidate, ...] = ()
    problem: Optional[Problem] = None  # set when nothing at all is tried

    @property
    def pull_sources(self) -> tuple[PullSource, ...]:
        """Every source in the order podman tries them, across short-name candidates."""
        return tuple(
            source for resolution in self.resolutions for source in resolution.pull_sources
        )
