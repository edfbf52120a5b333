"""Decode and validate one registries.conf file the way containers/image does (pure, no I/O).

The Go decoder (BurntSushi/toml) ignores unknown keys, matches key names with
``strings.EqualFold`` (Unicode simple folding) when there is no exact match, rejects values
of the wrong type and numbers outside int64/float64; validation then follows
``postProcessRegistries`` and ``loadConfigFile`` in ``pkg/sysregistriesv2`` check by check,
in the same order, so that a file with several faults reports the same one podman would.

tomllib keeps no positions, so a fault records which entry and key it is about and the
line is looked up only when an error is raised: large files load at full speed.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any, Optional

from agent import reference
from agent.errors import ConfigError
from agent.reference import ReferenceError
from agent.registries.model import (
    PULL_FROM_MIRROR_VALUES,
    SHORT_NAME_MODES,
    Compat,
    FileConfig,
    Mirror,
    RegistryEntry,
)
from agent.registries.toml_go import parse_toml

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - exercised on Python < 3.11 only
    pass

LAYER_HELPER = "additional-layer-store-auth-helper"  # a field from containers/image 5.32.0
TOP_LEVEL_FIELDS = (
    "registry",
    "unqualified-search-registries",
    "credential-helpers",
    LAYER_HELPER,
    "short-name-mode",
    "aliases",
    "registries",  # the v1 tables live under [registries.*]
)
TOP_LEVEL_FIELDS_BEFORE_5_32 = tuple(name for name in TOP_LEVEL_FIELDS if name != LAYER_HELPER)
REGISTRY_FIELDS = (
    "prefix",
    "location",
    "insecure",
    "pull-from-mirror",
    "blocked",
    "mirror",
    "mirror-by-digest-only",
)
MIRROR_FIELDS = ("location", "insecure", "pull-from-mirror")
V1_TABLES = ("search", "insecure", "block")

_REGISTRY_HEADER = re.compile(r"^\s*\[\[\s*registry\s*\]\]", re.IGNORECASE)

# Go's strings.EqualFold uses Unicode simple case folding. Field names are ASCII, and the only
# non-ASCII runes whose fold orbit holds an ASCII letter are U+017F (long s: s, S) and
# U+212A (Kelvin sign: k, K). Full folding (str.casefold: "ß" -> "ss") does not apply, and
# neither do str.lower()/upper() quirks such as "\u0131".upper() == "I" (dotless i).
_SIMPLE_FOLDS_TO_ASCII = str.maketrans({"\u017f": "s", "\u212a": "k"})
_FOLD_CLASSES = {"s": "[sS\u017f]", "k": "[kK\u212a]"}


def _fold_key(key: str) -> Optional[str]:
    """What ``key`` equals under Go's EqualFold, as lower-case ASCII; None if no ASCII form."""
    if not key.isascii():
        key = key.translate(_SIMPLE_FOLDS_TO_ASCII)
        if not key.isascii():
            return None
    return key.lower()


_FOLDED_NAMES: dict[tuple[str, ...], dict[str, str]] = {}


def _folded_names(names: tuple[str, ...]) -> dict[str, str]:
    folded = _FOLDED_NAMES.get(names)
    if folded is None:
        folded = _FOLDED_NAMES[names] = {name.lower(): name for name in names}
    return folded


def _key_pattern(key: str) -> str:
    """A regex for ``key`` as Go's EqualFold would match it (ASCII letters fold)."""
    parts = []
    for char in key:
        lower = char.lower()
        if char.isascii() and char.isalpha():
            parts.append(_FOLD_CLASSES.get(lower, f"[{lower}{char.upper()}]"))
        else:
            parts.append(re.escape(char))
    return "".join(parts)


class _Fault(ConfigError):
    """A ConfigError that knows which entry (index) and key it is about, for its line."""

    def __init__(
        self, kind: str, message: str, *, entry: Optional[int] = None, key: Optional[str] = None
    ) -> None:
        super().__init__(kind, message)
        self.entry = entry
        self.key = key


def _locate(text: str, entry: Optional[int], key: Optional[str]) -> Optional[int]:
    """Best-effort line of ``key`` (inside the ``entry``-th ``[[registry]]`` when given)."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    if entry is not None:
        headers = [n for n, line in enumerate(lines) if _REGISTRY_HEADER.match(line)]
        if entry >= len(headers):  # written as inline tables: no header to point at
            return None
        start = headers[entry]
        end = headers[entry + 1] if entry + 1 < len(headers) else len(lines)
        if key is None:
            return start + 1
    if key is None:
        return None
    pattern = re.compile(r"""^\s*["']?""" + _key_pattern(key) + r"""["']?\s*=""")
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1 if entry is not None else None


class _Decoder:
    """Turns TOML values into typed values like the Go decoder, collecting ignored keys."""

    def __init__(self) -> None:
        self.ignored: list[str] = []

    def fields(self, table: dict[str, Any], names: tuple[str, ...], where: str) -> dict[str, Any]:
        """Match TOML keys to field names: the exact name, else one equal under EqualFold.

        Go's decoder stores each key of the table (a Go map, iterated in random order) into
        the field it matches, so when one table holds both ``location`` and ``Location``
        the value podman keeps is random from run to run. The engine cannot be random: it
        keeps the exact-case key, and among folded spellings without an exact one, the last
        in the file.
        """
        folded_names = _folded_names(names)
        matched: dict[str, Any] = {}
        for key, value in table.items():
            if key in names:
                matched[key] = value
                continue
            folded = _fold_key(key)
            name = None if folded is None else folded_names.get(folded)
            if name is None:
                self.ignored.append(f"{where}{key}")
            elif name not in table:  # the engine's choice where podman's is random
                matched[name] = value
        return matched

    @staticmethod
    def check(ok: bool, value: Any, where: str, expected: str, entry: Optional[int]) -> None:
        if not ok:
            raise _Fault(
                "toml-type",
                f"{where}: expected {expected}, got {_toml_type(value)} {_short(value)}",
                entry=entry,
                key=where.rsplit(".", 1)[-1].split("[", 1)[0],
            )

    def string(self, value: Any, where: str, entry: Optional[int] = None) -> str:
        self.check(isinstance(value, str), value, where, "a string", entry)
        return str(value)

    def boolean(self, value: Any, where: str, entry: Optional[int] = None) -> bool:
        self.check(isinstance(value, bool), value, where, "a boolean", entry)
        return bool(value)

    def strings(self, value: Any, where: str, entry: Optional[int] = None) -> list[str]:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        self.check(ok, value, where, "an array of strings", entry)
        return list(value)

    def tables(self, value: Any, where: str, entry: Optional[int] = None) -> list[dict[str, Any]]:
        ok = isinstance(value, list) and all(isinstance(item, dict) for item in value)
        self.check(ok, value, where, "an array of tables ([[...]])", entry)
        return list(value)

    def table(self, value: Any, where: str, entry: Optional[int] = None) -> dict[str, Any]:
        self.check(isinstance(value, dict), value, where, "a table", entry)
        return dict(value)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def _short(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_location(value: str, what: str, entry: Optional[int] = None) -> str:
    """``parseLocation``: trailing slashes go, URI schemes are refused."""
    trimmed = value.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise _Fault(
            "uri-scheme",
            f"{what} {value!r}: URI schemes are not supported; write host[:port][/path]",
            entry=entry,
        )
    return trimmed


def decode_file(text: str, path: str, *, drop_in: bool, compat: Compat) -> FileConfig:
    """Decode, convert (v1) and validate one file, exactly as ``loadConfigFile`` does."""
    document, repeated = parse_toml(text, path)
    try:
        decoded = _decode(document, path, drop_in=drop_in, compat=compat)
    except _Fault as fault:
        fault.file = path
        fault.line = _locate(text, fault.entry, fault.key)
        raise
    return dataclasses.replace(decoded, repeated_keys=repeated) if repeated else decoded


class _RawEntry:
    """A ``[[registry]]`` table after type checks, before validation."""

    __slots__ = (
        "blocked",
        "digest_only",
        "index",
        "insecure",
        "location",
        "mirrors",
        "prefix",
        "pull_from_mirror",
    )

    def __init__(self, index: Optional[int]) -> None:
        self.index = index  # position among the file's [[registry]] tables; None for v1
        self.prefix = ""
        self.location = ""
        self.insecure = False
        self.blocked = False
        self.digest_only = False
        self.pull_from_mirror = ""
        self.mirrors: list[tuple[str, bool, str]] = []


def _decode(document: dict[str, Any], path: str, *, drop_in: bool, compat: Compat) -> FileConfig:
    decoder = _Decoder()
    # Before 5.32 additional-layer-store-auth-helper is an unknown key: ignored whatever
    # its type, and it does not make a v1 file "mixed".
    known = (
        TOP_LEVEL_FIELDS if compat.knows_layer_store_auth_helper else TOP_LEVEL_FIELDS_BEFORE_5_32
    )
    top = decoder.fields(document, known, "")

    # --- decoding: only types are checked here, as the Go decoder does ---
    raw_tables = decoder.tables(top["registry"], "registry") if "registry" in top else None
    entries = [_decode_entry(decoder, raw, index) for index, raw in enumerate(raw_tables or [])]
    search = _optional_strings(decoder, top, "unqualified-search-registries")
    helpers = _optional_strings(decoder, top, "credential-helpers")
    mode = decoder.string(top.get("short-name-mode", ""), "short-name-mode")
    layer_helper = decoder.string(top.get(LAYER_HELPER, ""), LAYER_HELPER)
    aliases: Optional[dict[str, str]] = None
    if "aliases" in top:
        alias_table = decoder.table(top["aliases"], "aliases")
        aliases = {
            name: decoder.string(value, f"aliases.{name}") for name, value in alias_table.items()
        }
    v1 = _decode_v1(decoder, top.get("registries"))

    # --- v1 detection and conversion ---
    def present(value: Optional[Any]) -> bool:
        # containers/image 5.24 counts a present-but-empty array; 5.23 did not.
        return value is not None and (compat.empty_v1_arrays_count or len(value) > 0)

    format_version = 2
    if any(present(v1.get(name)) for name in V1_TABLES):
        if drop_in:
            raise _Fault(
                "v1-in-drop-in",
                "drop-in files must use the v2 format, but this one has "
                + ", ".join(f"[registries.{name}]" for name in V1_TABLES if name in v1),
                key="registries",
            )
        v2_values: list[Optional[Any]] = [raw_tables, search, helpers, aliases]
        if any(present(value) for value in v2_values) or mode or layer_helper:
            raise _Fault(
                "mixing-v1-v2",
                "the file mixes the v1 format ([registries.search/insecure/block]) with v2 "
                "keys ([[registry]], unqualified-search-registries, short-name-mode, ...)",
            )
        entries = _convert_v1(v1)
        search = v1.get("search")
        format_version = 1

    # --- validation, in postProcessRegistries then loadConfigFile order ---
    normalised = [_normalise_entry(entry, compat, path) for entry in entries]
    _check_conflicts(normalised, [entry.index for entry in entries])
    if search is not None:
        search = [_normalise_search(value) for value in search]
    unique: dict[str, tuple[Optional[int], RegistryEntry]] = {}
    for raw, registry in zip(entries, normalised):
        unique.setdefault(registry.prefix, (raw.index, registry))  # first definition wins
    if mode and mode not in SHORT_NAME_MODES:
        raise _Fault(
            "invalid-short-name-mode",
            f"short-name-mode {mode!r} is not one of {', '.join(SHORT_NAME_MODES)}",
            key="short-name-mode",
        )
    # loadConfigFile checks wildcards after postProcessRegistries sorted the entries by
    # prefix, so of two bad wildcard prefixes the byte-smaller one is reported.
    for _, (index, registry) in sorted(unique.items()):
        if registry.is_wildcard and any(ch in registry.prefix for ch in "/:@"):
            raise _Fault(
                "invalid-wildcard-prefix",
                f"wildcard prefix {registry.prefix!r} must have the form *.example.com "
                "(no '/', ':' or '@')",
                entry=index,
                key="prefix",
            )
    alias_pairs = [
        (name, _validate_alias(name, value)) for name, value in sorted((aliases or {}).items())
    ]

    return FileConfig(
        path=path,
        registries=tuple(registry for _, registry in unique.values()),
        unqualified_search_registries=None if search is None else tuple(search),
        credential_helpers=None if helpers is None else tuple(helpers),
        short_name_mode=mode,
        additional_layer_store_auth_helper=layer_helper,
        aliases=tuple(alias_pairs),
        ignored_keys=tuple(decoder.ignored),
        format_version=format_version,
    )


def _optional_strings(decoder: _Decoder, top: dict[str, Any], key: str) -> Optional[list[str]]:
    """None when absent: an empty list is different, it clears earlier files' value."""
    return decoder.strings(top[key], key) if key in top else None


def _decode_entry(decoder: _Decoder, raw: dict[str, Any], index: int) -> _RawEntry:
    where = f"registry[{index}]."
    fields = decoder.fields(raw, REGISTRY_FIELDS, where)
    entry = _RawEntry(index)
    entry.prefix = decoder.string(fields.get("prefix", ""), where + "prefix", index)
    entry.location = decoder.string(fields.get("location", ""), where + "location", index)
    entry.insecure = decoder.boolean(fields.get("insecure", False), where + "insecure", index)
    entry.blocked = decoder.boolean(fields.get("blocked", False), where + "blocked", index)
    entry.digest_only = decoder.boolean(
        fields.get("mirror-by-digest-only", False), where + "mirror-by-digest-only", index
    )
    entry.pull_from_mirror = decoder.string(
        fields.get("pull-from-mirror", ""), where + "pull-from-mirror", index
    )
    for number, raw_mirror in enumerate(
        decoder.tables(fields.get("mirror", []), where + "mirror", index)
    ):
        mirror_where = f"{where}mirror[{number}]."
        mirror = decoder.fields(raw_mirror, MIRROR_FIELDS, mirror_where)
        entry.mirrors.append(
            (
                decoder.string(mirror.get("location", ""), mirror_where + "location", index),
                decoder.boolean(mirror.get("insecure", False), mirror_where + "insecure", index),
                decoder.string(
                    mirror.get("pull-from-mirror", ""), mirror_where + "pull-from-mirror", index
                ),
            )
        )
    return entry


def _decode_v1(decoder: _Decoder, raw: Any) -> dict[str, Optional[list[str]]]:
    if raw is None:
        return {}
    table = decoder.fields(decoder.table(raw, "registries"), V1_TABLES, "registries.")
    result: dict[str, Optional[list[str]]] = {}
    for name, value in table.items():
        where = f"registries.{name}"
        inner = decoder.fields(decoder.table(value, where), ("registries",), where + ".")
        if "registries" in inner:
            result[name] = decoder.strings(inner["registries"], where + ".registries")
    return result


def _convert_v1(v1: dict[str, Optional[list[str]]]) -> list[_RawEntry]:
    """``ConvertToV2``: one entry per host, blocked then insecure; no mirrors, no paths."""
    entries: dict[str, _RawEntry] = {}

    def entry_for(host: str, table: str) -> _RawEntry:
        location = parse_location(host, f"[registries.{table}] entry")
        if location not in entries:
            entry = _RawEntry(None)
            entry.prefix = entry.location = location
            entries[location] = entry
        return entries[location]

    for host in v1.get("block") or []:
        entry_for(host, "block").blocked = True
    for host in v1.get("insecure") or []:
        entry_for(host, "insecure").insecure = True
    return list(entries.values())


def _normalise_entry(raw: _RawEntry, compat: Compat, origin: str) -> RegistryEntry:
    index = raw.index
    location = parse_location(raw.location, "location", index)
    name = repr(raw.prefix or raw.location)
    if not raw.prefix:
        if not location:
            raise _Fault(
                "location-and-prefix-missing",
                "a [[registry]] entry sets neither prefix nor location",
                entry=index,
            )
        prefix = location
    else:
        prefix = parse_location(raw.prefix, "prefix", index)
        if not prefix.startswith("*.") and not location:
            raise _Fault(
                "location-required",
                f"registry {name}: location is unset, which only wildcard prefixes "
                "(*.example.com) allow",
                entry=index,
            )
    if raw.pull_from_mirror:
        raise _Fault(
            "pull-from-mirror-on-registry",
            f"registry {name}: pull-from-mirror is only valid in [[registry.mirror]] tables",
            entry=index,
            key="pull-from-mirror",
        )
    mirrors = []
    for mirror_location, insecure, pull_from_mirror in raw.mirrors:
        # Checks use the trimmed location; before 5.35 the untrimmed one was kept.
        trimmed = parse_location(mirror_location, "mirror location", index)
        if compat.trims_mirror_trailing_slash:
            mirror_location = trimmed
        if not trimmed:
            raise _Fault(
                "mirror-location-missing",
                f"registry {name}: a [[registry.mirror]] has no location",
                entry=index,
            )
        if raw.digest_only and pull_from_mirror:
            raise _Fault(
                "pull-from-mirror-with-digest-only",
                f"registry {name}: mirror {trimmed!r} sets pull-from-mirror while the "
                "registry sets mirror-by-digest-only = true; use one or the other",
                entry=index,
                key="pull-from-mirror",
            )
        if pull_from_mirror not in PULL_FROM_MIRROR_VALUES:
            raise _Fault(
                "pull-from-mirror-invalid",
                f"registry {name}: mirror {trimmed!r} has pull-from-mirror "
                f"{pull_from_mirror!r}; allowed: all, digest-only, tag-only",
                entry=index,
                key="pull-from-mirror",
            )
        mirrors.append(Mirror(mirror_location, insecure, pull_from_mirror))
    return RegistryEntry(
        prefix=prefix,
        location=location,
        insecure=raw.insecure,
        blocked=raw.blocked,
        mirror_by_digest_only=raw.digest_only,
        mirrors=tuple(mirrors),
        origin=origin,
    )


def _check_conflicts(entries: list[RegistryEntry], indexes: list[Optional[int]]) -> None:
    """Entries for one location (or one wildcard prefix) must agree on insecure and blocked.

    Upstream takes each entry in file order and compares it with every entry of its group
    (same location, or same prefix when the location is empty), in file order, insecure
    before blocked; the first difference found is the error. So the entry reported is the
    first entry in the file whose group disagrees at all, and the kind is that of the first
    entry of its group that differs from it. The message names that entry's location,
    which is '' for a wildcard entry without one; the line is the reported entry's.
    """
    groups: dict[str, list[int]] = {}
    for position, entry in enumerate(entries):
        groups.setdefault(entry.location or entry.prefix, []).append(position)
    flags = [(entry.insecure, entry.blocked) for entry in entries]
    disagreeing = [
        members[0] for members in groups.values() if len({flags[m] for m in members}) > 1
    ]
    if not disagreeing:
        return
    reported = min(disagreeing)  # a group's first member comes first in the file
    entry = entries[reported]
    group = groups[entry.location or entry.prefix]
    other = entries[next(m for m in group if flags[m] != flags[reported])]
    flag = "insecure" if other.insecure != entry.insecure else "blocked"
    if entry.location:
        subject = f"registry '{entry.location}'"
    else:  # upstream's message prints the empty location: registry ''
        subject = f"wildcard prefix {entry.prefix!r} (podman's message says registry '')"
    raise _Fault(
        f"conflicting-{flag}",
        f"{subject} is defined several times with different {flag!r} values "
        f"(entries {entry.label} and {other.label})",
        entry=indexes[reported],
        key=flag,
    )


def _normalise_search(value: str) -> str:
    key = "unqualified-search-registries"
    host = parse_location(value, f"{key} entry")
    if not reference.is_domain(host):
        raise _Fault(
            "invalid-unqualified-search",
            f"{key} entry {value!r} must be a host[:port] without a path",
            key=key,
        )
    return host


def _validate_alias(name: str, value: str) -> str:
    """The value as containers/image holds it (``parseShortNameValue`` normalises it:
    ``docker.io/fedora`` is ``docker.io/library/fedora``), or the fault."""

    def invalid(message: str) -> _Fault:
        return _Fault("invalid-alias", message, key=name)

    try:
        parsed_name = reference.parse_normalized(name)
    except ReferenceError as exc:
        raise invalid(f"alias name {name!r} is not a valid short name: {exc.message}") from None
    if not reference.is_short_name(name):
        raise invalid(f"alias name {name!r} must be a short name, without a registry host")
    if parsed_name.tag or parsed_name.digest:
        raise invalid(f"alias name {name!r} must not carry a tag or digest")
    if value == "":
        return value  # an empty value erases an alias from an earlier file
    try:
        parsed_value = reference.parse_normalized(value)
    except ReferenceError as exc:
        raise invalid(
            f"alias {name!r}: value {value!r} is not a valid reference: {exc.message}"
        ) from None
    if reference.is_short_name(value):
        raise invalid(f"alias {name!r}: value {value!r} must include a registry host")
    if parsed_value.tag or parsed_value.digest:
        raise invalid(f"alias {name!r}: value {value!r} must not carry a tag or digest")
    return parsed_value.name


def decode_alias_cache(text: str, path: str) -> dict[str, str]:
    """The ``[aliases]`` table of a machine-written short-name-aliases.conf."""
    document, _ = parse_toml(text, path)
    decoder = _Decoder()
    try:
        top = decoder.fields(document, ("aliases",), "")
        table = decoder.table(top.get("aliases", {}), "aliases")
        return {name: decoder.string(value, f"aliases.{name}") for name, value in table.items()}
    except _Fault as fault:
        fault.file = path
        raise
