"""registries.conf files for the ports of containers/image's sysregistriesv2 tests,
written for these ports after what upstream's testdata/ files exercise (not copies), and
a node root to load them from."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from agent import registries
from agent.registries.model import LEGACY_PODMAN_4_3

# containers/image v5.23.1 is what the ported tests ran against.
V5_23 = LEGACY_PODMAN_4_3
MAIN = "etc/containers/registries.conf"
DROP_INS = "etc/containers/registries.conf.d"
DIGEST = "sha256:" + "a" * 64

# A registry with two mirrors, the second insecure, and a blocked registry.
MIRRORS = """
[[registry]]
location = "registry.com"
  [[registry.mirror]]
  location = "mirror-1.registry.com"
  [[registry.mirror]]
  location = "mirror-2.registry.com"
  insecure = true

[[registry]]
location = "blocked.registry.com"
blocked = true
"""

# Prefixes of every kind: plain, with a path, the location as prefix, an empty prefix,
# nested wildcards, a host:port prefix inside a wildcard, and wildcards without location.
FIND_REGISTRY = """
[[registry]]
prefix = "simple-prefix.com"
location = "registry.com:5000"

[[registry]]
prefix = "complex-prefix.com:4000/with/path"
location = "another-registry.com:5000"

[[registry]]
prefix = "another-registry.com"
location = "registry.com:5000"

[[registry]]
location = "no-prefix.com"

[[registry]]
prefix = ""
location = "empty-prefix.com"

[[registry]]
prefix = "*.so.simple-prefix.com"
location = "subdomain-prefix.com"

[[registry]]
prefix = "*.simple-prefix.com"
location = "subdomain-prefix-2.com"

[[registry]]
prefix = "*.not.quite.simple-prefix.com"
location = "subdomain-prefix-1.com"

[[registry]]
prefix = "*.docker.io"
location = "subdomain-prefix-2.com"

[[registry]]
prefix = "*.bar.example.com"
location = "subdomain-prefix-3.com"

[[registry]]
prefix = "*.bar.docker.io"
location = "subdomain-prefix-4.com"

[[registry]]
prefix = "foo.bar.example.com:5000"
location = "subdomain-prefix-5.com"

[[registry]]
prefix = "*.internal.registry.com"

[[registry]]
prefix = "*.com"

[[registry]]
prefix = "*.foobar.io"
"""

# The drop-in directory several upstream tests share: search registries, credential
# helpers, aliases, a short-name mode, and wildcard entries that replace the main file's.
DROP_IN_DIR = {
    "config-1.conf": """
unqualified-search-registries = ["example-overwrite.com"]
credential-helpers = ["replaced", "by", "config-2"]

[[registry]]
location = "1.com"

[aliases]
docker = "docker.io/library/config1"
config1 = "config1.com/image"
barz = "barz.com/image/config1"
""",
    "config-2.conf": """
short-name-mode = "permissive"
credential-helpers = ["dropin-1", "dropin-2"]

[[registry]]
location = "1.com"

[[registry]]
location = "2.com"

[[registry]]
location = "base.com"
blocked = true

[aliases]
config2 = "config2.com/image"
barz = "barz.com/config2"
added3 = "xxx.com/image"
example = ""
""",
    "config-3.conf": "# nothing but a comment\n",
    "config-3.ignore": """
unqualified-search-registries = ["not-read.com"]

[[registry]]
location = "not-read-wrong-suffix.com"
""",
    "subdomain-override-1.conf": """
[[registry]]
prefix = "*.not.quite.simple-prefix.com"
location = "subdomain-prefix-1-overridden-by-dropin-location.com"
""",
    "subdomain-override-2.conf": """
[[registry]]
prefix = "*.docker.com"
location = "subdomain-prefix-2-overridden-by-dropin-location.com"
""",
    "subdomain-override-3.conf": """
[[registry]]
prefix = "*.bar.example.com"
location = "subdomain-prefix-3-overridden-by-dropin-location.com"
""",
}

UNQUALIFIED_SEARCH = """
unqualified-search-registries = ["registry-a.com", "registry-c.com", "registry-d.com"]

[[registry]]
location = "registry-a.com"

[[registry]]
location = "registry-b.com"

[[registry]]
location = "registry-c.com"

[[registry]]
location = "registry-d.com"
"""

V1_COMPATIBLE = """
[registries.search]
registries = ["registry-a.com////", "registry-c.com", "registry-d.com"]

[registries.block]
registries = ["registry-b.com"]

[registries.insecure]
registries = ["registry-b.com////", "registry-d.com", "registry-e.com", "registry-a.com"]
"""

ALIASES = """
short-name-mode = "enforcing"

[aliases]
docker = "docker.io/library/foo"
"quay/foo" = "quay.io/library/foo"
example = "example.com/library/foo"
empty = ""
"""


def node_root(
    base: Path,
    main: Optional[str],
    drop_ins: Optional[dict[str, str]] = None,
    cache: Optional[str] = None,
) -> Path:
    """A node's root with these files (no main file when ``main`` is None)."""
    root = base / "root"
    (root / DROP_INS).mkdir(parents=True, exist_ok=True)
    if main is not None:
        (root / MAIN).write_text(main)
    for name, text in (drop_ins or {}).items():
        (root / DROP_INS / name).write_text(text)
    if cache is not None:
        path = root / "var/cache/containers/short-name-aliases.conf"
        path.parent.mkdir(parents=True)
        path.write_text(cache)
    return root


def load(
    base: Path,
    main: Optional[str],
    drop_ins: Optional[dict[str, str]] = None,
    cache: Optional[str] = None,
) -> registries.LoadedHost:
    return registries.load(node_root(base, main, drop_ins, cache), compat=V5_23)


def decode(text: str) -> registries.Configuration:
    return registries.merge(
        [
            registries.decode_file(
                text, "/etc/containers/registries.conf", drop_in=False, compat=V5_23
            )
        ],
        V5_23,
    )
