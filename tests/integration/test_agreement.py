"""``agent explain`` against the real containers/image on this machine.

podman 4.3.1 and skopeo 1.9.3 are both built with containers/image 5.23.1 (Debian
``Built-Using: golang-github-containers-image (= 5.23.1-4)``, ``golang-toml (= 1.2.0-2)``,
``golang-github-containers-common (= 0.50.1+ds1-4)``), so ``--podman-version 4.3.1`` must
reproduce them exactly.

* Real pulls: three lab registries (mirror-a empty; mirror-b and the source hold the
  image). ``podman pull --log-level=debug`` runs with our registries.conf at
  ``/etc/containers``; the sources it logs (``Trying to access "..."``) must be the head
  of agent's ``pullSources``, ending at the registry that served the image, and the
  registries' access logs must show requests exactly from the sources tried and not blocked.
* Every conformance case: ``skopeo --debug inspect --raw`` runs with the case's files at
  ``/etc/containers``, ``/home/user`` and ``/opt``, in a network namespace of its own
  (loopback only, nothing listening, an empty ``/etc/hosts`` and ``nameserver 127.0.0.1``):
  every source fails at once because its host name cannot be looked up, no packet or DNS
  query can leave the machine, and podman does not retry (a failed lookup is not an error
  it retries, a refused connection is). Sources tried (in order), refused as blocked, and
  fallen back to plain HTTP (insecure) must be agent's; so must the files loaded, or the
  file blamed for a load error. Where only podman takes the input (a short name, resolved
  by podman's libimage; a reference with tag and digest; ``CONTAINERS_REGISTRIES_CONF``,
  which skopeo 1.9.3 ignores), ``podman pull`` in the same sandbox is compared as well,
  short-name candidates included (``Attempting to pull candidate ...``).

The harness (``podman_pull``, ``disagreements``...) is also what the seeded random
differential test (test_differential.py) runs. Everything runs inside the lab sandbox
(tests/support/lab.py), whose private mount namespace takes the extra bind mounts; nothing on the
machine is changed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import pytest

from agent.cli.app import main
from agent.reference import DIGEST_PATTERN
from tests.support.data import CONFORMANCE_CASES, require
from tests.support.lab import Lab, Registry

PODMAN_VERSION = "4.3.1"  # this machine's podman (containers/image 5.23.1)
USER_HOME = "/home/user"  # HOME of the conformance cases
CASE_FILES = sorted(require(CONFORMANCE_CASES).glob("*.json"))
_DIGEST_SUFFIX = re.compile(rf"@(?:{DIGEST_PATTERN})$")

# --------------------------------------------------------------------------------------
# the debug log of podman / skopeo (logrus text format, see tests/data/fixtures/README.md)

_LOG_LINE = re.compile(r'^time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"', re.MULTILINE)
_GO_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)
_GO_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f"}
_TRYING = re.compile(r'Trying to access "(.*)"', re.DOTALL)
_FAILED = re.compile(r'Accessing "(.*?)" failed: (.*)', re.DOTALL)
_LOADING = re.compile(r'Loading registries configuration "(.*)"', re.DOTALL)
_RETRYING = "Failed, retrying"
# podman: one pull per reference given, one or more candidates per pull (libimage)
_PULLING = re.compile(r"Pulling image (.*) \(policy: \w+\)", re.DOTALL)
_CANDIDATE = re.compile(r"Attempting to pull candidate (\S+) for (.*)", re.DOTALL)
_CANDIDATE_FAILED = re.compile(r"Error pulling candidate (\S+): (.*)", re.DOTALL)
# how the library reports a configuration it cannot load, or a source it cannot build
_LOAD_ERROR = re.compile(r'loading (?:drop-in )?registries configuration "([^"]+)": ')
_REWRITE_ERROR = "rewriting reference: "
_BLOCKED = "is blocked"
# every source fails in the sandbox: its name cannot be looked up, or (localhost in some
# resolvers, IP addresses) nothing listens or there is no route
_UNREACHABLE = re.compile(r"connection refused|network is unreachable")


def go_unquote(quoted: str) -> str:
    """The text inside a Go ``%q`` string (logrus quotes messages that way)."""

    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "xuU" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        return _GO_SIMPLE_ESCAPES.get(escape, escape)

    return _GO_ESCAPE.sub(replace, quoted)


def _messages(log: str) -> list[str]:
    return [go_unquote(match.group(2)) for match in _LOG_LINE.finditer(log)]


def _last_round(messages: Sequence[str]) -> list[str]:
    # podman retries the whole source list after network errors; every round is the same.
    starts = [index for index, message in enumerate(messages) if message.startswith(_RETRYING)]
    return list(messages[starts[-1] + 1 :] if starts else messages)


@dataclass
class Attempt:
    location: str
    error: Optional[str] = None
    """The ``Accessing "..." failed:`` text; None when this source served the manifest."""


def _attempts(messages: Iterable[str]) -> list[Attempt]:
    attempts: list[Attempt] = []
    for message in messages:
        trying = _TRYING.fullmatch(message)
        if trying:
            attempts.append(Attempt(trying.group(1)))
            continue
        failed = _FAILED.fullmatch(message)
        if failed:
            # sources are tried one after the other: a failure closes the latest attempt
            assert attempts and attempts[-1].location == failed.group(1), message
            attempts[-1].error = failed.group(2)
    return attempts


@dataclass
class Candidate:
    """One name the tool pulled: a short-name candidate, or the reference itself."""

    name: Optional[str]  # None: skopeo does not name it
    attempts: list[Attempt] = field(default_factory=list)
    error: Optional[str] = None  # why this candidate failed, when it did


@dataclass
class Pull:
    """What the tool did for one reference; no candidate: it failed before trying any."""

    reference: str
    candidates: list[Candidate] = field(default_factory=list)


def _podman_pulls(messages: Iterable[str]) -> list[Pull]:
    """podman's pulls, in the order of the references given, with their candidates."""
    pulls: list[Pull] = []
    for message in messages:
        pulling = _PULLING.fullmatch(message)
        if pulling:
            pulls.append(Pull(pulling.group(1)))
            continue
        candidate = _CANDIDATE.fullmatch(message)
        if candidate and pulls:
            pulls[-1].candidates.append(Candidate(candidate.group(1)))
            continue
        current = pulls[-1].candidates[-1] if pulls and pulls[-1].candidates else None
        if current is None:
            continue
        trying = _TRYING.fullmatch(message)
        failed = _FAILED.fullmatch(message)
        failed_candidate = _CANDIDATE_FAILED.fullmatch(message)
        if message.startswith(_RETRYING):
            current.attempts.clear()  # the copy is retried: keep the last round
        elif trying:
            current.attempts.append(Attempt(trying.group(1)))
        elif failed:
            # sources are tried one after the other: a failure closes the latest attempt
            assert current.attempts and current.attempts[-1].location == failed.group(1), message
            current.attempts[-1].error = failed.group(2)
        elif failed_candidate and failed_candidate.group(1) == current.name:
            current.error = failed_candidate.group(2)
    return pulls


@dataclass(frozen=True)
class ToolRun:
    """One real podman/skopeo run and what its debug log says."""

    argv: list[str]
    returncode: int
    log: str
    attempts: list[Attempt]
    loaded_files: list[str]
    pulls: list[Pull]

    @property
    def locations(self) -> list[str]:
        return [attempt.location for attempt in self.attempts]

    @property
    def blamed_file(self) -> Optional[str]:
        """The file named by a configuration load error, if the log has one."""
        blamed = _LOAD_ERROR.search(go_unquote(self.log))
        return blamed.group(1) if blamed else None

    def describe(self) -> str:
        """The command, its exit status and the log lines that matter, for failures."""
        wanted = ("Trying to access", "Accessing", "Loading registries", _RETRYING, "candidate")
        lines = [line for line in self.log.splitlines() if any(w in line for w in wanted)]
        lines += [line for line in self.log.splitlines()[-3:] if line not in lines]
        return f"$ {self.argv[0]} ... {self.argv[-1]}\nexit {self.returncode}\n" + "\n".join(lines)


# --------------------------------------------------------------------------------------
# running the real tools on a fake host root

# The parts of a fake root that are mounted where the tools look; cases may use only these.
ROOT_DIRS = ("etc/containers", "home/user", "opt", "var/cache")
_CASE_ENV = {"CONTAINERS_REGISTRIES_CONF"}

# Runs inside the lab sandbox's mount namespace: shows the fake root's files at the real
# paths (what agent reads under --host-root), then execs the tool. /var/cache holds root's
# short-name alias cache (var/cache/containers/short-name-aliases.conf), which podman reads,
# and locks, for every short name.
_ENTER_ROOT_SH = """\
set -eu
root="$1"
network="$2"
shift 2
if [ "$network" = isolated ]; then
    ip link set lo up
fi
mount --bind "$root/etc/containers" /etc/containers
mount --bind "$root/home" /home
mount --bind "$root/opt" /opt
mount --bind "$root/var/cache" /var/cache
mount --bind "$root/etc/hosts" /etc/hosts
mount --bind "$root/etc/resolv.conf" /etc/resolv.conf
exec "$@"
"""


def write_root(root: Path, files: Mapping[str, str]) -> Path:
    """A fake host root holding ``files`` (paths relative to ``/``), and its name service."""
    for directory in ROOT_DIRS:
        (root / directory).mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        if not relative.startswith(tuple(f"{directory}/" for directory in ROOT_DIRS)):
            raise AssertionError(f"{relative}: not under {ROOT_DIRS}, the sandbox would miss it")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    # No host name resolves: nothing in /etc/hosts, DNS on the loopback where none listens.
    (root / "etc" / "hosts").write_text("")
    (root / "etc" / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    return root


def run_on_root(
    lab: Lab,
    root: Path,
    tool_argv: Sequence[str],
    *,
    env: Mapping[str, str],
    isolated_network: bool,
    timeout: float = 120,
) -> ToolRun:
    """Run ``tool_argv`` in the lab sandbox with ``root`` mounted over the real paths."""
    assignments = [f"HOME={USER_HOME}", f"XDG_CONFIG_HOME={USER_HOME}/.config"]
    assignments += [f"{name}={value}" for name, value in env.items()]
    # the lab points CONTAINERS_REGISTRIES_CONF at its own file: the case decides here
    command = ["env", "-u", "CONTAINERS_REGISTRIES_CONF", *assignments, *tool_argv]
    network = "isolated" if isolated_network else "host"
    argv = ["/bin/sh", "-c", _ENTER_ROOT_SH, "enter-root", str(root), network, *command]
    if isolated_network:
        argv = ["unshare", "--net", "--", *argv]
    result = lab.run_sandboxed(argv, check=False, timeout=timeout)
    messages = _messages(result.stderr)
    loaded = [m.group(1) for m in map(_LOADING.fullmatch, messages) if m]
    return ToolRun(
        argv=list(tool_argv),
        returncode=result.returncode,
        log=result.stderr,
        attempts=_attempts(_last_round(messages)),
        loaded_files=loaded,
        pulls=_podman_pulls(messages),
    )


def podman_pull(
    lab: Lab,
    root: Path,
    references: Sequence[str],
    *,
    isolated_network: bool,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 120,
) -> ToolRun:
    """``podman pull`` of every reference in one run (podman goes on after a failed one)."""
    argv = lab.podman_argv(
        "--log-level=debug",
        "pull",
        "--signature-policy",
        str(lab.policy_path),
        "--cert-dir",
        str(lab.cert_dir),
        *references,
    )
    run = run_on_root(
        lab, root, argv, env=env or {}, isolated_network=isolated_network, timeout=timeout
    )
    assert [pull.reference for pull in run.pulls] == list(references), run.describe()
    return run


def skopeo_inspect(lab: Lab, root: Path, reference: str, env: Mapping[str, str]) -> ToolRun:
    argv = lab.skopeo_argv(
        "--debug", "inspect", "--raw", "--cert-dir", str(lab.cert_dir), f"docker://{reference}"
    )
    run = run_on_root(lab, root, argv, env=env, isolated_network=True)
    # skopeo names no candidate: one pull of the reference, unless it failed before any
    # source (a load error, an invalid reference)
    candidates = []
    if run.attempts or _REWRITE_ERROR in run.log:
        candidates = [Candidate(None, run.attempts, run.log if run.returncode else None)]
    return replace(run, pulls=[Pull(reference, candidates)])


def explain(
    capsys: pytest.CaptureFixture[str],
    root: Path,
    references: Sequence[str],
    registries_conf: Optional[str] = None,
) -> tuple[int, dict[str, Any]]:
    """``agent explain -o json`` on the fake root, imitating this machine's podman."""
    argv = ["explain", *references, "--host-root", str(root), "--home", USER_HOME]
    argv += ["-o", "json", "--podman-version", PODMAN_VERSION]
    if registries_conf:
        argv += ["--registries-conf", str(root / registries_conf.lstrip("/"))]
    capsys.readouterr()
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def _blocked_mismatches(run: ToolRun, sources: Sequence[Mapping[str, Any]]) -> list[str]:
    """Attempts whose refusal as blocked differs from agent's ``blocked`` flag."""
    return [
        f"{attempt.location}: agent blocked={source['blocked']}, real error {attempt.error!r}"
        for attempt, source in zip(run.attempts, sources)
        if (_BLOCKED in (attempt.error or "")) != source["blocked"]
    ]


# --------------------------------------------------------------------------------------
# comparing agent's answer with what a real tool did


def _on_root(path: str, root: Path) -> str:
    return "/" + str(Path(path).relative_to(root))


def _candidate_disagreements(agent: Mapping[str, Any], real: Candidate) -> list[str]:
    name = agent["reference"]
    locations = [source["location"] for source in agent["pullSources"]]
    real_rewrite_error = _REWRITE_ERROR in (real.error or "")
    if agent["error"] is not None:
        if real.attempts or not real_rewrite_error:
            return [
                f"{name}: agent says {agent['error']['kind']}, the tool tried "
                f"{[a.location for a in real.attempts]} (error {real.error!r})"
            ]
        return []
    if real_rewrite_error:
        return [f"{name}: the tool could not rewrite ({real.error!r}), agent tries {locations}"]
    real_locations = [attempt.location for attempt in real.attempts]
    if real_locations != locations:
        return [f"{name}: sources: agent {locations}, real {real_locations}"]
    found = []
    for attempt, source in zip(real.attempts, agent["pullSources"]):
        error = attempt.error or ""
        if (_BLOCKED in error) != source["blocked"]:
            found.append(f"{attempt.location}: agent blocked={source['blocked']}, real {error!r}")
        elif not source["blocked"]:
            if not _UNREACHABLE.search(error):  # proves the sandbox: nothing was reachable
                found.append(f"{attempt.location}: unexpected error {error!r}")
            # an insecure source falls back to plain HTTP, and that last ping is the error
            elif ('Get "http://' in error) != source["insecure"]:
                found.append(f"{attempt.location}: agent insecure={source['insecure']}, {error!r}")
    return found


def disagreements(
    document: Mapping[str, Any],
    result: Optional[Mapping[str, Any]],
    run: ToolRun,
    pull: Pull,
    root: Path,
) -> list[str]:
    """How agent's answer for one reference differs from what the tool did (empty: agrees).

    ``document`` is agent's whole JSON document, ``result`` its entry for the reference
    (None when the configuration does not load).
    """
    real = pull.candidates
    if document.get("error") is not None:
        error = document["error"]
        agent_file = _on_root(error["file"], root)
        found = []
        if real:
            found.append(
                f"agent cannot load the configuration ({error['kind']}: "
                f"{error['message']}), the tool pulled {[c.name for c in real]}"
            )
        if run.blamed_file != agent_file:
            found.append(f"agent blames {agent_file} ({error['kind']}), the tool {run.blamed_file}")
        return found
    assert result is not None
    if run.blamed_file is not None:
        return [f"the tool cannot load {run.blamed_file}, agent loads the configuration"]
    error = result["error"]
    if error is not None and error["stage"] in ("reference", "short-name"):
        if real:
            return [
                f"agent: {error['kind']} ({error['message']}); the tool pulled "
                f"{[c.name for c in real]}"
            ]
        return []
    agent_candidates = result["candidates"] or [
        {"reference": result["normalized"], "pullSources": result["pullSources"], "error": error}
    ]
    names = [candidate["reference"] for candidate in agent_candidates]
    real_names = [candidate.name for candidate in real]
    if len(real) != len(names) or any(
        real_name is not None and real_name != name for real_name, name in zip(real_names, names)
    ):
        return [f"candidates: agent {names}, real {real_names}"]
    found = []
    for agent_candidate, real_candidate in zip(agent_candidates, real):
        found += _candidate_disagreements(agent_candidate, real_candidate)
    # agent reports an error for the reference exactly when nothing at all is tried
    if (error is not None) != all(not candidate.attempts for candidate in real):
        found.append(
            f"agent error {error and error['kind']!r}, the tool tried "
            f"{[a.location for c in real for a in c.attempts]}"
        )
    return found


def file_disagreements(document: Mapping[str, Any], run: ToolRun, root: Path) -> list[str]:
    """The files read, when the configuration loads: the library also logs the main file
    when it is absent (then an empty configuration), and each file once."""
    if document.get("error") is not None:
        return []
    real = list(dict.fromkeys(f for f in run.loaded_files if (root / f.lstrip("/")).is_file()))
    agent = [_on_root(f, root) for f in document["configuration"]["files"]]
    return [] if real == agent else [f"files: agent {agent}, real {real}"]


# --------------------------------------------------------------------------------------
# 1. real pulls from lab registries


@dataclass(frozen=True)
class PullLab:
    mirror_a: Registry
    mirror_b: Registry
    source: Registry
    digest: str

    def registry(self, role: str) -> Registry:
        return {"mirror-a": self.mirror_a, "mirror-b": self.mirror_b, "source": self.source}[role]


@pytest.fixture(scope="module")
def pull_lab(lab: Lab) -> PullLab:
    mirror_a = lab.start_registry("agreement-mirror-a")  # up, but holds nothing
    mirror_b = lab.start_registry("agreement-mirror-b")
    source = lab.start_registry("agreement-source")
    image = lab.build_image("team/app:1")
    digest = lab.push(image, source, "team/app")
    lab.push(image, source, "team/app", "only-at-source")  # a tag no mirror has
    assert lab.push(image, mirror_b, "mirror/team/app") == digest
    return PullLab(mirror_a, mirror_b, source, digest)


def _pull_conf(pulls: PullLab, entry_flags: Mapping[str, bool]) -> str:
    flags = "".join(f"{key} = {str(value).lower()}\n" for key, value in entry_flags.items())
    return (
        "unqualified-search-registries = []\n\n"
        "[[registry]]\n"
        f'location = "{pulls.source.host}"\n'
        "insecure = true\n"
        f"{flags}\n"
        "[[registry.mirror]]\n"
        f'location = "{pulls.mirror_a.host}/cache"\n'
        "insecure = true\n\n"
        "[[registry.mirror]]\n"
        f'location = "{pulls.mirror_b.host}/mirror"\n'
        "insecure = true\n"
    )


# the registry's access log (gorilla combined format) for manifest requests
_MANIFEST_REQUEST = re.compile(r'"[A-Z]+ /v2/\S+/manifests/\S+ HTTP/[0-9.]+" ([0-9]{3}) ')


def _manifest_statuses(registry: Registry, offset: int, *, expect_some: bool) -> list[int]:
    """HTTP statuses of manifest requests logged by ``registry`` after byte ``offset``."""
    deadline = time.monotonic() + 5
    while True:
        with registry.log_path.open("rb") as log:
            log.seek(offset)
            statuses = [
                int(s) for s in _MANIFEST_REQUEST.findall(log.read().decode(errors="replace"))
            ]
        # the access line is written once the response is out: give it a moment
        if statuses or not expect_some or time.monotonic() > deadline:
            return statuses
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("entry_flags", "suffix", "served_by"),
    [
        pytest.param({}, "@digest", "mirror-b", id="digest-mirror-a-misses-mirror-b-serves"),
        pytest.param(
            {"mirror-by-digest-only": True}, ":1", "source", id="tag-digest-only-mirrors-skipped"
        ),
        pytest.param({"blocked": True}, "@digest", "mirror-b", id="blocked-source-mirror-serves"),
        pytest.param({"blocked": True}, ":only-at-source", None, id="blocked-source-refused"),
    ],
)
def test_real_pull_follows_agent_order(
    lab: Lab,
    pull_lab: PullLab,
    capsys: pytest.CaptureFixture[str],
    entry_flags: Mapping[str, bool],
    suffix: str,
    served_by: Optional[str],
) -> None:
    root = write_root(lab.write_host_root(_pull_conf(pull_lab, entry_flags)), {})
    tail = f"@{pull_lab.digest}" if suffix == "@digest" else suffix
    reference = f"{pull_lab.source.host}/team/app{tail}"
    roles = ("mirror-a", "mirror-b", "source")
    offsets = {role: pull_lab.registry(role).log_path.stat().st_size for role in roles}

    run = podman_pull(lab, root, [reference], isolated_network=False)
    code, document = explain(capsys, root, [reference])

    assert run.loaded_files == ["/etc/containers/registries.conf"], run.describe()
    assert code == 0, document
    (result,) = document["results"]
    sources = result["pullSources"]
    expected = [source["location"] for source in sources]
    if served_by is None:
        assert run.returncode != 0, run.describe()
        assert run.locations == expected, run.describe()
    else:
        # what podman tried is agent's list up to the source that served the image
        assert run.returncode == 0, run.describe()
        assert run.locations == expected[: len(run.attempts)], run.describe()
        *failed, served = run.attempts
        assert served.error is None and all(a.error for a in failed), run.describe()
        assert served.location.startswith(pull_lab.registry(served_by).host + "/"), served
    assert not _blocked_mismatches(run, sources), run.describe()

    for role in roles:
        registry = pull_lab.registry(role)
        tried = [a for a in run.attempts if a.location.startswith(f"{registry.host}/")]
        contacted = [a for a in tried if _BLOCKED not in (a.error or "")]
        statuses = _manifest_statuses(registry, offsets[role], expect_some=bool(contacted))
        # a registry hears from podman exactly when it is tried and not blocked
        assert bool(statuses) == bool(contacted), (role, statuses, run.describe())
        if role == served_by:
            assert 200 in statuses, (role, statuses)
        if role == "mirror-a":
            assert all(re.search(r"manifest unknown|name unknown", a.error or "") for a in tried)
    if entry_flags.get("mirror-by-digest-only"):
        assert [skipped["location"] for skipped in result["skippedMirrors"]] == [
            f"{pull_lab.mirror_a.host}/cache/team/app{tail}",
            f"{pull_lab.mirror_b.host}/mirror/team/app{tail}",
        ]
    if entry_flags.get("blocked"):
        assert sources[-1]["blocked"] is True


# --------------------------------------------------------------------------------------
# 2. every conformance case against skopeo (and podman where only podman takes the input)


def _case_env(case: Mapping[str, Any]) -> dict[str, str]:
    env = dict(case.get("env") or {})
    unknown = set(env) - _CASE_ENV
    assert not unknown, f"variables the harness does not pass on: {sorted(unknown)}"
    for value in env.values():
        assert value.startswith(tuple(f"/{d}/" for d in ROOT_DIRS)), value
    return env


def looks_short(reference: str) -> bool:
    """Whether podman resolves ``reference`` as a short name (also when it is invalid)."""
    first, slash, _ = reference.partition("/")
    return not slash or not ("." in first or ":" in first or first == "localhost")


def _has_tag_and_digest(reference: str) -> bool:
    name = _DIGEST_SUFFIX.sub("", reference)
    return name != reference and ":" in name.rsplit("/", 1)[-1]


def _assert_agrees(run: ToolRun, document: Mapping[str, Any], root: Path) -> None:
    """agent's answer for a conformance case is what the real tool did (nothing listening)."""
    (pull,) = run.pulls
    result = None if document.get("error") is not None else document["results"][0]
    found = disagreements(document, result, run, pull, root)
    found += file_disagreements(document, run, root)
    assert not found, "\n".join(found) + "\n" + run.describe()
    assert run.returncode != 0, run.describe()  # nothing listens: every pull fails


@pytest.mark.parametrize("case_file", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_conformance_case_agrees_with_real_library(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str], case_file: Path
) -> None:
    case = json.loads(case_file.read_text())
    env = _case_env(case)
    root = write_root(tmp_path / "root", case["files"])
    reference = case["reference"]
    override = env.get("CONTAINERS_REGISTRIES_CONF")
    short_name = looks_short(reference)
    tag_and_digest = _has_tag_and_digest(reference)

    document = explain(capsys, root, [reference])[1]
    override_document = explain(capsys, root, [reference], override)[1] if override else document

    skopeo = skopeo_inspect(lab, root, reference, env)
    if tag_and_digest:
        # The library rejects tag+digest; podman strips the tag first and agent imitates
        # podman, so podman's pull is the one to compare.
        assert skopeo.returncode != 0 and not skopeo.attempts, skopeo.describe()
        assert "both a tag and digest" in skopeo.log, skopeo.describe()
    elif not short_name:
        # skopeo 1.9.3 has no CONTAINERS_REGISTRIES_CONF (nor --registries-conf): it reads
        # the default files, which is agent without the override. It takes a short name
        # as a Docker Hub name: only podman resolves short names.
        _assert_agrees(skopeo, document, root)
    if override or tag_and_digest or short_name:
        podman = podman_pull(lab, root, [reference], isolated_network=True, env=env)
        _assert_agrees(podman, override_document, root)
