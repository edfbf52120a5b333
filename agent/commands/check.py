"""``agent check``: run real pulls on the node and judge them against the configuration.

The orchestration between the edges (registries.conf files, the node runner) and the pure
core (resolution, log parsing, judging). Side effects happen only through the runner and
the configuration loader passed in, so the whole flow is testable with fakes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from agent import __version__, registries
from agent.commands.auto import auto_images, repo_digests
from agent.commands.checks_file import read_image_lines
from agent.commands.parallel import check_concurrently, parallel_limits
from agent.commands.results import (
    TRYING_TO_ACCESS,
    error_result,
    expected_sources,
    result_from_log,
    secure_report,
)
from agent.errors import CheckEnvironmentError, ConfigError, clipped
from agent.process import CommandNotFound, CommandResult, Terminated
from agent.pull.judge import verdict_of
from agent.pull.log.digests import stored_manifest_digest
from agent.pull.log.podman import parse_pull_log
from agent.pull.log.redact import Redactor
from agent.pull.runner import NodeRunner
from agent.pull.scratch import NodeDiskFull
from agent.reference import GivenImage, given_image
from agent.registries import LoadedHost
from agent.registries.model import CURRENT, Compat, Resolution, compat_for_podman
from agent.report import CheckReport, Finding, ImageResult, NotVerified, Probe, timestamp, worst
from agent.safe_read import (
    CHECKS_FILE_LIMIT,
    SMALL_FILE_LIMIT,
    UnsafeFile,
    read_text,
    read_text_or_stdin,
)
from agent.vocabulary import Method

Progress = Callable[[str, str], None]  # (image, what is happening)


# What a check that could not run on the node reports, most specific first (NodeDiskFull is
# a CheckEnvironmentError).
_NODE_SIDE_CODES: tuple[tuple[type[Exception], str], ...] = (
    (CommandNotFound, "tool-missing"),
    (NodeDiskFull, "node-disk-full"),
    (CheckEnvironmentError, "environment"),
)


@dataclass(frozen=True)
class CheckOptions:
    images: tuple[str, ...] = ()
    auto: bool = False
    method: Method = "pull"
    probe_mirrors: bool = False
    # Images checked with skopeo inspect --raw whatever ``method`` says (``# method=manifest``
    # in a checks file: release images, whose payload is too large to pull on every node).
    manifest_images: tuple[str, ...] = ()
    # Images really pulled whatever ``method`` says (``# method=pull``): a few chosen images
    # when the DaemonSet's default is the manifest method.
    pull_images: tuple[str, ...] = ()
    #: At most this many images per check (None: no cap); the rest is a finding.
    max_images: Optional[int] = None
    #: Only images some registries.conf entry covers are contacted (the DaemonSet's
    #: default): a checks file cannot make every node reach an arbitrary host:port.
    covered_only: bool = False
    #: Images checked at once (per method); None: the defaults of DEFAULT_PARALLEL.
    parallel: Optional[int] = None


#: ``--max-images``' default: a report of this many images fits in its ConfigMap with
#: room for findings and attempts, and a check of them ends within the re-check interval.
DEFAULT_MAX_IMAGES = 300


def method_of(image: str, options: CheckOptions) -> Method:
    """How ``image`` is checked: its checks-file line's method, else ``options.method``."""
    if image in options.pull_images:
        return "pull"
    if image in options.manifest_images:
        return "manifest"
    return options.method


def compat_of(podman_version: Optional[str]) -> Compat:
    if not podman_version:
        return CURRENT
    try:
        return compat_for_podman(podman_version)
    except ValueError:
        return CURRENT


def _progress_reader(image: str, progress: Optional[Progress]) -> Optional[Callable[[str], None]]:
    if progress is None:
        return None

    def on_line(line: str) -> None:
        match = TRYING_TO_ACCESS.search(line)
        if match:
            progress(image, f"trying {match.group(1)}")

    return on_line


def _probe_registries_conf(resolution: Resolution) -> str:
    """No mirror rules, only the insecure flags the mirrors have on the node."""
    lines = ["# mirror-agent probe: ask each mirror directly", "unqualified-search-registries = []"]
    hosts = sorted(
        {
            source.location.split("/", 1)[0]
            for source in resolution.pull_sources
            if source.kind == "mirror" and source.insecure
        }
    )
    for host in hosts:
        lines += ["", "[[registry]]", f'location = "{host}"', "insecure = true"]
    return "\n".join(lines) + "\n"


def probe_mirrors(runner: NodeRunner, resolution: Resolution) -> tuple[Probe, ...]:
    """Ask every eligible mirror, one at a time, for the manifest with no mirror rule applying."""
    mirrors = [source for source in resolution.pull_sources if source.kind == "mirror"]
    if not mirrors:
        return ()
    probes = []
    with runner.node_temp_file(_probe_registries_conf(resolution)) as conf:
        for mirror in mirrors:
            result = runner.inspect_manifest(mirror.reference, registries_conf=conf)
            log = parse_pull_log(result.stderr, exit_code=result.exit_code, killed=result.timed_out)
            attempt = log.attempts[-1] if log.attempts else None
            if result.exit_code == 0:
                probes.append(
                    Probe(mirror.location, True, digest=_served_digest("manifest", result))
                )
            elif result.timed_out:
                probes.append(Probe(mirror.location, False, "timeout", "no answer in time"))
            else:
                probes.append(
                    Probe(
                        mirror.location,
                        False,
                        attempt.reason if attempt and attempt.reason else "other",
                        (attempt.message if attempt else None) or log.final_error,
                    )
                )
    return tuple(probes)


def check_image(
    runner: NodeRunner,
    loaded: LoadedHost,
    given: GivenImage,
    options: CheckOptions,
    progress: Optional[Progress] = None,
) -> ImageResult:
    """One image: resolve, pull (or fetch the manifest), parse, judge. Never raises."""
    image = given.text
    if given.problem is not None:
        return error_result(image, "invalid-reference", given.problem)
    if given.reference is None:
        return error_result(
            image,
            "short-name",
            "use a fully qualified reference (host/repository@sha256:...): CRI-O and "
            "podman resolve short names differently",
        )
    explanation = loaded.explain_reference(image, given.reference)
    if explanation.problem:
        return error_result(
            image,
            explanation.problem.kind,
            explanation.problem.message,
            reference=explanation.normalized,
        )
    (resolution,) = explanation.resolutions
    target = given.reference.for_pull()  # the reference resolved (resolution.reference)
    if options.covered_only and resolution.entry is None:
        return error_result(
            image,
            "not-covered",
            "no [[registry]] entry of the node's registries.conf covers this image, and "
            "--only-covered-images limits checks to images an entry covers: not contacted",
            reference=resolution.reference,
        )
    if progress:
        progress(image, "starting")
    method: Method = method_of(image, options)
    try:
        if method == "manifest":
            result = runner.inspect_manifest(
                target, on_stderr_line=_progress_reader(image, progress)
            )
        else:
            result = runner.pull(target, on_stderr_line=_progress_reader(image, progress))
    except (CommandNotFound, CheckEnvironmentError) as exc:  # the node's fault, not the mirror's
        code = next(code for kind, code in _NODE_SIDE_CODES if isinstance(exc, kind))
        return error_result(
            image,
            code,
            exc.message,
            reference=resolution.reference,
            expected=expected_sources(resolution),
        )
    judged = _judge_result(
        image,
        resolution,
        result,
        runner if options.probe_mirrors else None,
        served_digest=_served_digest(method, result),
    )
    return replace(judged, method=method)


def _served_digest(method: str, result: CommandResult) -> Optional[str]:
    """The digest of the manifest received: skopeo prints the raw manifest (its sha256 is
    the digest); podman's debug log names the manifest it stored."""
    if result.exit_code != 0:
        return None
    if method == "manifest":
        raw = result.stdout.encode()
        return "sha256:" + hashlib.sha256(raw).hexdigest() if raw else None
    return stored_manifest_digest(result.stderr)


def _judge_result(
    image: str,
    resolution: Resolution,
    result: CommandResult,
    prober: Optional[NodeRunner],
    *,
    served_digest: Optional[str] = None,
) -> ImageResult:
    log = parse_pull_log(result.stderr, exit_code=result.exit_code, killed=result.timed_out)
    probes: tuple[Probe, ...] = ()
    problems: tuple[Finding, ...] = ()
    if prober is not None:
        try:
            probes = probe_mirrors(prober, resolution)
        except (CommandNotFound, CheckEnvironmentError) as exc:
            # skopeo missing on the node, no writable scratch folder...: the pull's result
            # stands and the other images are still checked; only the probe is missing.
            problems = (
                Finding(
                    "probe-unavailable",
                    "warn",
                    f"--probe-mirrors could not ask the mirrors directly: {exc.message}",
                ),
            )
    return result_from_log(
        image,
        resolution,
        log,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration=result.duration,
        raw=result.stderr,
        probes=probes,
        extra_findings=problems,
        served_digest=served_digest,
    )


def run_check(
    runner: NodeRunner,
    load: Callable[[Compat], LoadedHost],
    options: CheckOptions,
    *,
    node: str,
    checked_at: str,
    agent_version: str,
    storage: str,
    progress: Optional[Progress] = None,
    podman_version_of: Optional[Callable[[], Optional[str]]] = None,
) -> CheckReport:
    """The whole check; every problem ends up in the report rather than as an exception.

    ``podman_version_of`` gives the node's podman version when the caller already asked
    for it (:meth:`NodeRunner.podman_version_soon`); by default the runner is asked now.
    """
    findings: list[Finding] = []
    podman_version = (podman_version_of or runner.podman_version)()
    if podman_version is None:
        findings.append(
            Finding(
                "podman-version-unknown",
                "info",
                "could not read the node's podman version; assuming current releases",
            )
        )
    compat = compat_of(podman_version)
    report = CheckReport(
        node=node,
        checked_at=checked_at,
        verdict="error",
        podman_version=podman_version,
        method=options.method,
        storage=storage,
        agent_version=agent_version,
    )
    try:
        loaded = load(compat)
    except ConfigError as error:
        finding = Finding(
            "registries-conf-invalid",
            "fail",
            f"{error} — every pull on this node fails until it is fixed",
        )
        unchecked = tuple(
            ImageResult(image=image, verdict="fail", findings=(finding,))
            for image in options.images
        )
        return replace(
            report,
            verdict="fail",
            images=unchecked,
            findings=(*findings, finding),
            config_error=_config_error_json(error),
        )
    config = loaded.config
    # Parsed once, here where the images of the options, of the checks files and of --auto meet.
    images = [given_image(text) for text in options.images]
    not_verified: list[NotVerified] = []
    if options.auto:
        listing = _node_images(runner)
        if isinstance(listing, Finding):
            findings.append(listing)
        else:
            chosen, not_verified = auto_images(config, listing)
            images += [image for image in chosen if image.text not in options.images]
    if options.max_images is not None and len(images) > options.max_images:
        left_out = images[options.max_images :]
        images = images[: options.max_images]
        shown = ", ".join(clipped(image.text) for image in left_out[:3])
        shown += ", ..." if len(left_out) > 3 else ""
        findings.append(
            Finding(
                "too-many-images",
                "error",
                f"{len(images) + len(left_out)} images to check, more than --max-images "
                f"{options.max_images}: {len(left_out)} not checked ({shown})",
            )
        )
    if not images and not not_verified:
        findings.append(
            Finding(
                "nothing-to-check",
                "error",
                "no image to check: give --image/--images-file or use --auto on a node "
                "whose registries.conf has mirrors",
            )
        )
    results_list, stopped = _check_all(runner, loaded, images, options, progress)
    interrupted: Optional[str] = None
    if stopped is not None:
        # Ctrl-C or SIGTERM: the runner has killed podman and removed scratch storage;
        # what was checked is still reported.
        interrupted = "SIGTERM" if isinstance(stopped, Terminated) else "SIGINT"
        findings.append(Finding("interrupted", "error", "the check was interrupted"))
    results = tuple(results_list)
    node_findings = tuple(findings)
    verdicts = [result.verdict for result in results] + [verdict_of(node_findings)]
    if not_verified:
        verdicts.append("warn")
    return replace(
        report,
        verdict=worst(verdicts),
        images=results,
        findings=node_findings,
        not_verified=tuple(not_verified),
        registries_files=config.files,
        fingerprint=config.fingerprint,
        behaviour=config.compat.label,
        extra={"interrupted": interrupted} if interrupted else {},
        effective_registries=config.canonical()["registries"],
    )


def _check_all(
    runner: NodeRunner,
    loaded: LoadedHost,
    images: list[GivenImage],
    options: CheckOptions,
    progress: Optional[Progress],
) -> tuple[list[ImageResult], Optional[BaseException]]:
    """Every image checked, serially or several at once (``options.parallel``); results
    in input order, an image not checked because of a stop (returned) marked so."""
    limits = parallel_limits(options.parallel)
    counted = _counted(progress, len(images))
    results: list[Optional[ImageResult]] = [None] * len(images)
    stopped: Optional[BaseException] = None
    texts = [given.text for given in images]
    if len(images) > 1 and any(limits[method_of(text, options)] > 1 for text in texts):
        parsed = {given.text: given for given in images}  # one text, one parse
        outcome = check_concurrently(
            texts,
            lambda text: method_of(text, options),
            lambda text: check_image(runner, loaded, parsed[text], options, counted),
            limits,
            on_done=counted.done if isinstance(counted, _CountedProgress) else None,
        )
        results, stopped = outcome.results, outcome.stopped
    else:
        for index, given in enumerate(images):
            try:
                results[index] = check_image(runner, loaded, given, options, counted)
            except (KeyboardInterrupt, Terminated) as stop:
                stopped = stop
                break
            if isinstance(counted, _CountedProgress):
                counted.done(index + 1)
    return [
        result
        if result is not None
        else error_result(text, "interrupted", "the check was interrupted before this image")
        for text, result in zip(texts, results)
    ], stopped


class _CountedProgress:
    """The caller's progress with ``n of N done`` in front (thread-safe)."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self._total = total
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, image: str, state: str) -> None:
        with self._lock:
            self._progress(f"{self._done} of {self._total} done · {image}", state)

    def done(self, count: int) -> None:
        with self._lock:
            self._done = count


def _counted(progress: Optional[Progress], total: int) -> Optional[Progress]:
    """With one image, the caller's progress as it is."""
    if progress is None or total <= 1:
        return progress
    return _CountedProgress(progress, total)


def _node_images(runner: NodeRunner) -> list[str] | Finding:
    try:
        records = runner.node_store_images()
    except CheckEnvironmentError as exc:
        return Finding("auto-unavailable", "error", f"cannot list the node's images: {exc.message}")
    return repo_digests(records)


def _config_error_json(error: ConfigError) -> dict[str, object]:
    return {"kind": error.kind, "message": error.message, "file": error.file, "line": error.line}


# -- the command: what run_check needs, from the node and the options --------------------------


def node_name(root: Path) -> str:
    """NODE_NAME (the downward API), else the node's /etc/hostname, else this host's name."""
    if os.environ.get("NODE_NAME"):
        return os.environ["NODE_NAME"]
    try:
        name = (read_text(root / "etc" / "hostname", limit=SMALL_FILE_LIMIT) or "").strip()
    except UnsafeFile:
        name = ""
    if name:
        return name
    import socket  # only for this last resort: every check imports this module

    return socket.gethostname()


def read_checks_file(path: Path) -> list[tuple[str, Optional[Method]]]:
    """``--images-file PATH`` (``-``: standard input): (reference, method) per line."""
    text = read_text_or_stdin(path, limit=CHECKS_FILE_LIMIT)  # UnsafeFile names the file
    return read_image_lines(text, str(path))


def check_node(
    runner: NodeRunner,
    root: Path,
    options: CheckOptions,
    *,
    storage: str,
    progress: Optional[Progress] = None,
    podman_version_of: Optional[Callable[[], Optional[str]]] = None,
) -> CheckReport:
    """``agent check``: :func:`run_check` on the node under ``root``, now; the node's
    credentials are taken out of the report (:func:`secure_report`)."""
    report = run_check(
        runner,
        lambda compat: registries.load(root, compat=compat),
        options,
        node=node_name(root),
        checked_at=timestamp(),
        agent_version=__version__,
        storage=storage,
        progress=progress,
        podman_version_of=podman_version_of,
    )
    return secure_report(report, Redactor.of(runner.settings.secret_values()))


__all__: Sequence[str] = (
    "DEFAULT_MAX_IMAGES",
    "CheckOptions",
    "Progress",
    "check_image",
    "check_node",
    "compat_of",
    "method_of",
    "node_name",
    "probe_mirrors",
    "read_checks_file",
    "run_check",
)
