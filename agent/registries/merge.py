"""Merge decoded files into the effective configuration (``updateWithConfigurationFrom``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from agent.registries.model import (
    CURRENT,
    DEFAULT_CREDENTIAL_HELPERS,
    DEFAULT_SHORT_NAME_MODE,
    Alias,
    Compat,
    Configuration,
    FileConfig,
    RegistryEntry,
    RepeatedKey,
)


def merge(files: Sequence[FileConfig], compat: Compat = CURRENT) -> Configuration:
    """Apply each file in load order to the result so far.

    A later entry with the same prefix replaces the earlier one whole; list settings are
    replaced when the key is present (an empty list clears); strings when non-empty;
    aliases name by name. The result is sorted by prefix, as upstream sorts after merging.
    """
    registries: dict[str, RegistryEntry] = {}
    search: tuple[str, ...] = ()
    search_origin: Optional[str] = None
    helpers: tuple[str, ...] = ()
    mode = ""
    layer_helper = ""
    aliases: dict[str, Alias] = {}
    ignored: list[tuple[str, str]] = []
    repeated: list[tuple[str, RepeatedKey]] = []
    for file in files:
        for entry in file.registries:
            registries[entry.prefix] = entry
        if file.unqualified_search_registries is not None:
            search = file.unqualified_search_registries
            search_origin = file.path
        if file.credential_helpers is not None:
            helpers = file.credential_helpers
        if file.short_name_mode:
            mode = file.short_name_mode
        if file.additional_layer_store_auth_helper:
            layer_helper = file.additional_layer_store_auth_helper
        for name, value in file.aliases:
            aliases[name] = Alias(value, file.path)
        ignored.extend((file.path, key) for key in file.ignored_keys)
        repeated.extend((file.path, key) for key in file.repeated_keys)
    return Configuration(
        files=tuple(file.path for file in files),
        registries=tuple(registries[prefix] for prefix in sorted(registries)),
        unqualified_search_registries=search,
        unqualified_search_registries_origin=search_origin,
        credential_helpers=helpers or DEFAULT_CREDENTIAL_HELPERS,
        short_name_mode=mode or DEFAULT_SHORT_NAME_MODE,
        additional_layer_store_auth_helper=layer_helper,
        aliases=tuple((name, aliases[name]) for name in sorted(aliases) if aliases[name].value),
        ignored_keys=tuple(ignored),
        repeated_keys=tuple(repeated),
        compat=compat,
    )
