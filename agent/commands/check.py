"""``agent check``: run real pulls on the node and judge them against the configuration.

The orchestration between the edges (registries.conf files, the node runner) and the pure
core (resolution, log parsing, judging). Side effects happen only through the runner and
the configuration loader passed in, so the whole flow is testable with fakes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from agent import __version__, registries
from agent import reference as references
from agent.commands.auto import auto_images, repo_digests
from agent.commands.checks_file import read_image_lines
from agent.commands.parallel import check_concurrently, parallel_limits
from agent.commands.results import (
    TRYING_TO_ACCESS,
    error_result,
    expected_sources,
    result_from_log,
)
from agent.errors import CheckEnvironmentError, ConfigError, UsageError
from agent.process import CommandNotFound, CommandResult, Terminated
from agent.pull.judge import verdict_of
from agent.pull.log.podman import parse_pull_log
from agent.pull.runner import NodeRunner
from agent.registries import LoadedHost
from agent.registries.model import CURRENT, Compat, Resolution, compat_for_podman
from agent.report import CheckReport, Finding, ImageResult, NotVerified, Probe, timestamp, worst

Progress = Callable[[str, str], None]  # (image, what is happening)


@dataclass(frozen=True)
class CheckOptions:
    images: tuple[str, ...] = ()
    auto: bool = False
    method: str = "pull"  # "pull" | "manifest"
    probe_mirrors: bool = False
    # Images checked with skopeo inspect --raw whatever ``method`` says (``# method=manifest``
    # in a checks file: release images, whose payload is too large to pull on every node).
    manifest_images: tuple[str, ...] = ()
    # Images really pulled whatever ``method`` says (``# method=pull``): a few chosen images
    # when the DaemonSet's default is the manifest method.
    pull_images: tuple[str, ...] = ()
    # Images checked at once (per method); None: the defaults of DEFAULT_PARALLEL.
    parallel: Optional[int] = None


def method_of(image: str, options: CheckOptions) -> str:
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
            result = runner.inspect_manifest(mirror.location, registries_conf=conf)
            log = parse_pull_log(result.stderr, exit_code=result.exit_code, killed=result.timed_out)
            attempt = log.attempts[-1] if log.attempts else None
            if result.exit_code == 0:
                probes.append(Probe(mirror.location, True))
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
    image: str,
    options: CheckOptions,
    progress: Optional[Progress] = None,
) -> ImageResult:
    """One image: resolve, pull (or fetch the manifest), parse, judge. Never raises."""
    try:
        if references.is_short_name(image):
            return error_result(
                image,
                "short-name",
                "use a fully qualified reference (host/repository@sha256:...): CRI-O and "
                "podman resolve short names differently",
            )
    except references.ReferenceError as exc:
        return error_result(image, "invalid-reference", exc.message)
    explanation = loaded.explain(image)
    if explanation.problem:
        return error_result(
            image,
            explanation.problem.kind,
            explanation.problem.message,
            reference=explanation.normalized,
        )
    (resolution,) = explanation.resolutions
    target = resolution.reference
    if progress:
        progress(image, "starting")
    method = method_of(image, options)
    try:
        if method == "manifest":
            result = runner.inspect_manifest(
                target, on_stderr_line=_progress_reader(image, progress)
            )
        else:
            result = runner.pull(target, on_stderr_line=_progress_reader(image, progress))
    except CommandNotFound as exc:
        return error_result(
            image,
            "tool-missing",
            exc.message,
            reference=target,
            expected=expected_sources(resolution),
        )
    except CheckEnvironmentError as exc:
        return error_result(
            image,
            "environment",
            exc.message,
            reference=target,
            expected=expected_sources(resolution),
        )
    judged = _judge_result(image, resolution, result, runner if options.probe_mirrors else None)
    return replace(judged, method=method)


def _judge_result(
    image: str, resolution: Resolution, result: CommandResult, prober: Optional[NodeRunner]
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
    images = list(options.images)
    not_verified: list[NotVerified] = []
    if options.auto:
        listing = _node_images(runner)
        if isinstance(listing, Finding):
            findings.append(listing)
        else:
            chosen, not_verified = auto_images(config, listing)
            images += [image for image in chosen if image not in images]
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
    images: list[str],
    options: CheckOptions,
    progress: Optional[Progress],
) -> tuple[list[ImageResult], Optional[BaseException]]:
    """Every image checked, serially or several at once (``options.parallel``); results
    in input order, an image not checked because of a stop (returned) marked so."""
    limits = parallel_limits(options.parallel)
    counted = _counted(progress, len(images))
    results: list[Optional[ImageResult]] = [None] * len(images)
    stopped: Optional[BaseException] = None
    if len(images) > 1 and any(limits[method_of(image, options)] > 1 for image in images):
        outcome = check_concurrently(
            images,
            lambda image: method_of(image, options),
            lambda image: check_image(runner, loaded, image, options, counted),
            limits,
            on_done=counted.done if isinstance(counted, _CountedProgress) else None,
        )
        results, stopped = outcome.results, outcome.stopped
    else:
        for index, image in enumerate(images):
            try:
                results[index] = check_image(runner, loaded, image, options, counted)
            except (KeyboardInterrupt, Terminated) as stop:
                stopped = stop
                break
            if isinstance(counted, _CountedProgress):
                counted.done(index + 1)
    return [
        result
        if result is not None
        else error_result(image, "interrupted", "the check was interrupted before this image")
        for image, result in zip(images, results)
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
        name = (root / "etc" / "hostname").read_text().strip()
    except OSError:
        name = ""
    if name:
        return name
    import socket  # only for this last resort: every check imports this module

    return socket.gethostname()


def read_checks_file(path: Path) -> list[tuple[str, Optional[str]]]:
    """``--images-file PATH`` (``-``: standard input): (reference, method) per line."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise UsageError(f"--images-file {path}: {exc.strerror or exc}") from None
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
    """``agent check``: :func:`run_check` on the node under ``root``, now."""
    return run_check(
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


__all__: Sequence[str] = (
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
