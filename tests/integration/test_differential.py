"""Seeded random differential test: ``agent explain`` against the real podman on this machine.

Each run draws random registries.conf set-ups (a main file or none, v1 files, drop-ins, a
per-user file, ``CONTAINERS_REGISTRIES_CONF``, a short-name alias cache; prefixes with
paths, ports and wildcards, remapped locations, mirrors with ``pull-from-mirror``,
``mirror-by-digest-only``, ``blocked`` and ``insecure``, search registries, short-name
modes, aliases, repeated keys, invalid values) and random references for each (tagged,
digested with sha256/sha384/sha512, both, neither; fully qualified or short), and checks
that agent and podman 4.3.1 (containers/image 5.23.1) agree on every reference: whether the
configuration loads (and which file fails), the short-name candidates, each candidate's
rewrite error, the sources in order, blocked and insecure (see test_agreement.py for how
each is observed). One ``podman pull`` takes all references of a set-up, in a sandbox where
no host name resolves, so every source fails at once and nothing is retried.

The seed is printed and is in the failure message; replay a run with
``MIRROR_AGENT_DIFF_SEED=<seed>``; ``MIRROR_AGENT_DIFF_SETUPS=<n>`` draws more set-ups
(default 64, each with 8 references).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.integration.test_agreement import (
    disagreements,
    explain,
    file_disagreements,
    podman_pull,
    write_root,
)
from tests.support.lab import Lab

SEED_VARIABLE = "MIRROR_AGENT_DIFF_SEED"
SETUPS_VARIABLE = "MIRROR_AGENT_DIFF_SETUPS"
DEFAULT_SETUPS = 64
REFERENCES_PER_SETUP = 8

MAIN = "etc/containers/registries.conf"
DROP_INS = "etc/containers/registries.conf.d"
USER_MAIN = "home/user/.config/containers/registries.conf"
USER_DROP_INS = "home/user/.config/containers/registries.conf.d"
OVERRIDE = "opt/custom/registries.conf"
ALIAS_CACHES = (  # podman runs as root here (/var/cache), agent reads --home's cache
    "var/cache/containers/short-name-aliases.conf",
    "home/user/.cache/containers/short-name-aliases.conf",
)

# Host names only: an IP address or a resolvable name would make podman retry for seconds.
HOSTS = (
    "reg.example.com",
    "reg.example.com:5000",
    "quay.io",
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "mirror.example.net",
    "mirror.example.net:8443",
    "m2.example.org",
    "docker.io",
)
WILDCARDS = ("*.example.com", "*.a.example.com", "*.example.net", "*.io")
PATHS = ("", "ns", "ns/app", "team", "ns/sub", "library")
NAMES = ("app", "tool", "busybox", "sub", "ns/app", "team/tool")
SEARCH = ("quay.io", "example.com", "reg.example.com:5000", "docker.io", "a.example.com")
ALIAS_NAMES = ("tool", "ns/tool", "app")
PULL_FROM_MIRROR = ("", "", "all", "digest-only", "tag-only")
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass
class Setup:
    """One random host: its files, environment and the references pulled on it."""

    number: int
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # prefixes and locations, for references

    def describe(self) -> str:
        return json.dumps(
            {"files": self.files, "env": self.env, "references": self.references}, indent=2
        )


def _quote(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII text is a TOML basic string


def _array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_quote(value) for value in values) + "]"


class Generator:
    """Random registries.conf set-ups and references, all decisions from one Random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    # -- configuration ----------------------------------------------------------------------

    def place(self, host: str, *, bad: float = 0.0) -> str:
        """``host[/path]``; with probability ``bad`` one that cannot be a rewrite target."""
        if self.chance(bad):
            return self.pick(
                ("mirrorhost", "mirrorhost/cache", "mirror.example.net/Cache", "m2.example.org/")
            )
        path = self.pick(PATHS)
        return f"{host}/{path}" if path else host

    def prefix(self) -> str:
        prefix = self.place(self.pick(HOSTS))
        if self.chance(0.03):
            prefix = prefix.capitalize()  # hosts keep their case: this never matches
        if self.chance(0.03):
            prefix += ":1"  # a prefix with a tag never matches a pull
        return prefix + ("/" if self.chance(0.05) else "")

    def mirror(self, digest_only: bool) -> list[str]:
        fields = {"location": self.place(self.pick((*HOSTS, "localhost:5000")), bad=0.1)}
        if self.chance(0.25):
            fields["insecure"] = "true"
        pull_from_mirror = self.pick(PULL_FROM_MIRROR) if not digest_only else ""
        if digest_only and self.chance(0.04):
            pull_from_mirror = "digest-only"  # an error together with digest-only
        if pull_from_mirror:
            fields["pull-from-mirror"] = pull_from_mirror
        return [
            f"{key} = {value if key == 'insecure' else _quote(value)}"
            for key, value in fields.items()
        ]

    def entry(self, setup: Setup) -> str:
        lines = ["[[registry]]"]
        wildcard = self.chance(0.2)
        if wildcard:
            prefix = self.pick(WILDCARDS) + (":5000" if self.chance(0.03) else "")
            location = self.place(self.pick(HOSTS)) if self.chance(0.4) else ""
        else:
            prefix = self.prefix()
            location = prefix if self.chance(0.5) else self.place(self.pick(HOSTS))
            if self.chance(0.2):
                prefix = ""  # the prefix defaults to the location
            elif self.chance(0.03):
                location = ""  # an error: a plain prefix needs a location
        setup.hosts += [value for value in (prefix, location) if value]
        if prefix:
            lines.append(f"prefix = {_quote(prefix)}")
        if location:
            lines.append(f"{'Location' if self.chance(0.05) else 'location'} = {_quote(location)}")
        digest_only = self.chance(0.2)
        for key, on in (
            ("insecure", self.chance(0.25)),
            ("blocked", self.chance(0.15)),
            ("mirror-by-digest-only", digest_only),
            ("mirror_by_digest_only", self.chance(0.03)),  # a typo: an unknown key, ignored
        ):
            if on:
                lines.append(f"{key} = true")
        mirrors = [self.mirror(digest_only) for _ in range(self.rng.choice((0, 1, 1, 2, 3)))]
        if mirrors and self.chance(0.1):  # an inline array, sometimes repeated
            inline = [", ".join(fields) for fields in mirrors]
            lines += [f"mirror = [{{ {one} }}]" for one in inline[: self.rng.choice((1, 2))]]
            if self.chance(0.5):
                lines.append("mirror = []")
        else:
            for fields in mirrors:
                lines += ["", "[[registry.mirror]]", *fields]
        return "\n".join(lines) + "\n"

    def search(self) -> list[str]:
        return self.rng.sample(SEARCH, self.rng.choice((0, 1, 1, 2, 2, 3)))

    def v2_file(self, setup: Setup, *, entries: int) -> str:
        parts = []
        if self.chance(0.7):
            line = f"unqualified-search-registries = {_array(self.search())}\n"
            if self.chance(0.08):  # repeated: the last array wins
                line += f"unqualified-search-registries = {_array(self.search())}\n"
            parts.append(line)
        if self.chance(0.2):
            mode = self.pick(("disabled", "permissive", "enforcing"))
            again = f'short-name-mode = "{mode}"\n' if self.chance(0.05) else ""  # an error
            parts.append(f'short-name-mode = "{mode}"\n{again}')
        if self.chance(0.05):
            parts.append('credential-helpers = "x"\ncredential-helpers = []\n')
        parts += [self.entry(setup) for _ in range(entries)]
        if self.chance(0.3):
            names = self.rng.sample(ALIAS_NAMES, self.rng.choice((1, 2)))
            aliases = [f"{_quote(name)} = {_quote(self.alias_value(setup))}" for name in names]
            parts.append("[aliases]\n" + "\n".join(aliases) + "\n")
            if self.chance(0.15):  # a root key the [aliases] header comes after
                parts.insert(0, self.key_before_aliases_header(setup))
        return "\n".join(parts)

    def key_before_aliases_header(self, setup: Setup) -> str:
        """``aliases = [...]`` (the table replaces it), ``aliases.X = "…"`` (both kept),
        or ``aliases = {…}`` (an error): the Go decoder loads the first two."""
        form = self.pick(("array", "array", "dotted", "dotted", "inline"))
        name = _quote(self.pick(ALIAS_NAMES))
        if form == "array":
            return f"aliases = {_array(self.rng.sample(SEARCH, self.rng.choice((0, 1))))}\n"
        if form == "dotted":
            return f"aliases.{name} = {_quote(self.alias_value(setup))}\n"
        return f"aliases = {{{name} = {_quote(self.alias_value(setup))}}}\n"

    def alias_value(self, setup: Setup) -> str:
        if self.chance(0.1):
            return ""  # erases an alias of an earlier file (hides one, in the cache)
        host = self.pick(HOSTS)
        setup.hosts.append(host)
        return f"{self.place(host)}/{self.pick(('tool', 'app', 'x'))}"

    def v1_file(self, setup: Setup) -> str:
        lines = []
        if self.chance(0.05):  # mixing v1 and v2: an error
            lines += [f"unqualified-search-registries = {_array(self.search())}", ""]
        for table in ("search", "insecure", "block"):
            if self.chance(0.6):
                hosts = self.rng.sample(HOSTS, self.rng.choice((0, 1, 2)))
                setup.hosts += hosts
                lines += [f"[registries.{table}]", f"registries = {_array(hosts)}", ""]
        return "\n".join(lines)

    def setup(self, number: int) -> Setup:
        setup = Setup(number)
        if self.chance(0.85):
            main = self.v1_file(setup) if self.chance(0.1) else None
            setup.files[MAIN] = main if main is not None else self.v2_file(setup, entries=3)
        for directory, name in (
            (DROP_INS, "10-a.conf"),
            (DROP_INS, "20-b.conf"),
            (USER_DROP_INS, "05-u.conf"),
        ):
            if self.chance(0.3 if directory == DROP_INS else 0.1):
                text = self.v1_file(setup) if self.chance(0.05) else None
                drop_in = self.v2_file(setup, entries=self.rng.choice((1, 2)))
                setup.files[f"{directory}/{name}"] = text if text is not None else drop_in
        if self.chance(0.05):  # not drop-ins: only regular *.conf files directly inside count
            setup.files[f"{DROP_INS}/30-c.conf.bak"] = "not TOML ["
            setup.files[f"{DROP_INS}/sub/40-d.conf"] = "not TOML ["
        if self.chance(0.08):
            setup.files[USER_MAIN] = self.v2_file(setup, entries=2)
        if self.chance(0.08):
            setup.files[OVERRIDE] = self.v2_file(setup, entries=2)
            setup.env["CONTAINERS_REGISTRIES_CONF"] = "/" + OVERRIDE
        if self.chance(0.1):
            cache = (
                f"[aliases]\n{_quote(self.pick(ALIAS_NAMES))} = {_quote(self.alias_value(setup))}\n"
            )
            for path in ALIAS_CACHES:
                setup.files[path] = cache
        setup.references = [self.reference(setup) for _ in range(REFERENCES_PER_SETUP)]
        return setup

    # -- references -------------------------------------------------------------------------

    def digest(self) -> str:
        algorithm = self.pick(("sha256",) * 8 + ("sha384", "sha512"))
        length = DIGEST_LENGTHS[algorithm]
        if self.chance(0.02):
            length //= 2  # not a valid digest
        return f"{algorithm}:{self.rng.getrandbits(4 * length):0{length}x}"

    def suffix(self) -> str:
        kind = self.pick(("", "tag", "tag", "digest", "digest", "both"))
        tag = f":{self.pick(('1', 'latest', 'v2.1'))}" if kind in ("tag", "both") else ""
        return tag + (f"@{self.digest()}" if kind in ("digest", "both") else "")

    def host_for_reference(self, setup: Setup) -> str:
        if setup.hosts and self.chance(0.6):  # likely to match an entry of the set-up
            known = self.pick(setup.hosts).rstrip("/").removesuffix(":1")
            if known.startswith("*."):
                known = self.pick(("x", "b.a", "mirror")) + known[1:]
            return known
        return self.pick((*HOSTS, "index.docker.io", "c.example.com", "reg.example.com:5001"))

    def reference(self, setup: Setup) -> str:
        if self.chance(0.35):
            return self.pick(NAMES + ALIAS_NAMES) + self.suffix()
        name = self.pick(NAMES)
        return f"{self.host_for_reference(setup)}/{name}{self.suffix()}"


def _seed() -> int:
    given = os.environ.get(SEED_VARIABLE)
    return int(given) if given else secrets.randbits(32)


def _setups(generator: Generator) -> Iterator[Setup]:
    for number in range(int(os.environ.get(SETUPS_VARIABLE, DEFAULT_SETUPS))):
        yield generator.setup(number)


@pytest.fixture(scope="module")
def private_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab of its own: an empty image store, so no short name resolves to a local image."""
    with Lab(tmp_path_factory.mktemp("differential-lab")) as lab:
        yield lab


class Coverage:
    """What the compared answers held, printed so a run shows what it exercised."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, document: Mapping[str, Any]) -> None:
        if document.get("error") is not None:
            self.counts["load failures"] += 1
            return
        for result in document["results"]:
            error = result["error"]
            self.counts["references"] += 1
            if error is not None:
                self.counts[f"{error['stage']} errors"] += 1
            for candidate in result["candidates"]:
                self.counts["short-name candidates"] += 1
                if candidate["error"] is not None:
                    self.counts["candidate rewrite errors"] += 1
            for source in result["pullSources"]:
                self.counts["sources"] += 1
                self.counts["mirrors"] += source["kind"] == "mirror"
                self.counts["blocked"] += source["blocked"]
                self.counts["insecure"] += source["insecure"] and not source["blocked"]

    def __str__(self) -> str:
        return ", ".join(f"{count} {name}" for name, count in sorted(self.counts.items()))


def _setup_disagreements(
    lab: Lab, root: Path, setup: Setup, capsys: pytest.CaptureFixture[str], coverage: Coverage
) -> list[str]:
    override: Optional[str] = setup.env.get("CONTAINERS_REGISTRIES_CONF")
    document = explain(capsys, root, setup.references, override)[1]
    coverage.add(document)
    run = podman_pull(lab, root, setup.references, isolated_network=True, env=setup.env)
    found = file_disagreements(document, run, root)
    results = document.get("results") or [None] * len(setup.references)
    for reference, result, pull in zip(setup.references, results, run.pulls):
        found += [
            f"{reference}: {problem}"
            for problem in disagreements(document, result, run, pull, root)
        ]
    return found


def test_agent_agrees_with_podman_on_random_setups(
    private_lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = _seed()
    with capsys.disabled():
        print(f"\ndifferential seed {seed} (replay with {SEED_VARIABLE}={seed})")
    started = time.monotonic()
    failures = []
    count = 0
    coverage = Coverage()
    for setup in _setups(Generator(random.Random(seed))):
        root = write_root(tmp_path / f"setup-{setup.number}", setup.files)
        found = _setup_disagreements(private_lab, root, setup, capsys, coverage)
        count += len(setup.references)
        if found:
            failures.append(
                f"set-up {setup.number}:\n" + "\n".join(found) + "\n" + setup.describe()
            )
    with capsys.disabled():
        print(f"differential: {count} references in {time.monotonic() - started:.1f} s")
        print(f"differential: {coverage}")
    assert not failures, (
        f"seed {seed} ({SEED_VARIABLE}={seed} replays it): agent and podman disagree\n\n"
        + "\n\n".join(failures)
    )
