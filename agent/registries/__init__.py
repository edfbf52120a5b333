"""registries.conf as containers/image reads it: files, validation, merging, pull sources."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from agent.node.paths import ROOT_HOME, HostRoot
from agent.reference import ImageReference
from agent.registries.decode import decode_alias_cache, decode_file
from agent.registries.hostfiles import read_alias_cache, read_config_files
from agent.registries.merge import merge
from agent.registries.model import CURRENT, Compat, Configuration, Explanation
from agent.registries.resolve import explain, explain_reference, find_entry, pull_sources

__all__ = [
    "CURRENT",
    "Compat",
    "Configuration",
    "Explanation",
    "LoadedHost",
    "explain",
    "explain_reference",
    "find_entry",
    "load",
    "pull_sources",
]


class LoadedHost:
    """A node's effective configuration plus the alias cache that only short names use."""

    def __init__(self, config: Configuration, cached_aliases: Optional[dict[str, str]]) -> None:
        self.config = config
        self.cached_aliases = cached_aliases

    def explain(self, given: str) -> Explanation:
        return explain(self.config, given, self.cached_aliases)

    def explain_reference(self, given: str, ref: ImageReference) -> Explanation:
        """:meth:`explain` for a fully qualified reference already parsed from ``given``."""
        return explain_reference(self.config, given, ref)


def load(
    host_root: Path,
    *,
    main_override: Optional[Path] = None,
    home: str = ROOT_HOME,
    compat: Compat = CURRENT,
) -> LoadedHost:
    """Read, validate and merge the node's registries.conf files; raises ConfigError."""
    host = HostRoot(host_root)
    files = read_config_files(host, home=home, main_override=main_override, compat=compat)
    config = merge(
        [decode_file(f.text, f.path, drop_in=f.drop_in, compat=compat) for f in files], compat
    )
    cache = read_alias_cache(host, home)
    return LoadedHost(config, decode_alias_cache(cache.text, cache.path) if cache else None)
