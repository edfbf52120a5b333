"""``agent check``: run real pulls on the node and judge them against the configuration.

The orchestration between the edges (registries.conf files, the node runner) and the pure
core (resolution, log parsing, judging). Side effects happen only through the runner and
the configuration loader passed in, so the whole flow is testable with fakes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from agent import reference as references
from agent.errors import AgentError, CheckEnvironmentError, ConfigError
from agent.process import CommandNotFound, CommandResult, Terminated
from agent.pull.judge import judge, judge_probes, verdict_of
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.lines import plain_text
from agent.pull.log.model import JournalPull, PullLog
from agent.pull.log.podman import parse_pull_log
from agent.pull.log.redact import redact
from agent.pull.runner import NodeRunner
from agent.registries import LoadedHost
from agent.registries.model import (
    CURRENT,
    Compat,
    Configuration,
    RegistryEntry,
    Resolution,
    compat_for_podman,
)
from agent.registries.resolve import find_entry, sources_of
from agent.report import (
    CheckReport,
    Expected,
    Finding,
    ImageResult,
    NotVerified,
    Probe,
    worst,
)

_TRYING = re.compile(r'Trying to access \\?"([^"\\]+)')

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


def compat_of(podman_version: Optional[str]) -> Compat:
    if not podman_version:
        return CURRENT
    try:
        return compat_for_podman(podman_version)
    except ValueError:
        return CURRENT


def _error_result(image: str, code: str, message: str, **extra: object) -> ImageResult:
    severity = "fail" if code == "rewrite-invalid-reference" else "error"
    finding = Finding(code, severity, message)
    return ImageResult(image=image, verdict=verdict_of([finding]), findings=(finding,), **extra)  # type: ignore[arg-type]


def _expected(resolution: Resolution) -> tuple[Expected, ...]:
    return tuple(
        Expected(source.location, source.kind, source.insecure, source.blocked)
        for source in resolution.pull_sources
    )


def _progress_reader(image: str, progress: Optional[Progress]) -> Optional[Callable[[str], None]]:
    if progress is None:
        return None

    def on_line(line: str) -> None:
        match = _TRYING.search(line)
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
            return _error_result(
                image,
                "short-name",
                "use a fully qualified reference (host/repository@sha256:...): CRI-O and "
                "podman resolve short names differently",
            )
    except references.ReferenceError as exc:
        return _error_result(image, "invalid-reference", exc.message)
    explanation = loaded.explain(image)
    if explanation.problem:
        return _error_result(
            image,
            explanation.problem.kind,
            explanation.problem.message,
            reference=explanation.normalized,
        )
    (resolution,) = explanation.resolutions
    target = resolution.reference
    if progress:
        progress(image, "starting")
    method = "manifest" if image in options.manifest_images else options.method
    try:
        if method == "manifest":
            result = runner.inspect_manifest(
                target, on_stderr_line=_progress_reader(image, progress)
            )
        else:
            result = runner.pull(target, on_stderr_line=_progress_reader(image, progress))
    except CommandNotFound as exc:
        return _error_result(
            image, "tool-missing", exc.message, reference=target, expected=_expected(resolution)
        )
    except CheckEnvironmentError as exc:
        return _error_result(
            image, "environment", exc.message, reference=target, expected=_expected(resolution)
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
    return _result_from_log(
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


def _result_from_log(
    image: str,
    resolution: Resolution,
    log: PullLog,
    *,
    exit_code: Optional[int],
    timed_out: bool,
    duration: Optional[float],
    raw: str,
    probes: tuple[Probe, ...] = (),
    extra_findings: tuple[Finding, ...] = (),
) -> ImageResult:
    judgement = judge(resolution, log, exit_code=exit_code, timed_out=timed_out)
    findings = [*judgement.findings, *judge_probes(probes), *extra_findings]
    return ImageResult(
        image=image,
        verdict=verdict_of(findings),
        reference=resolution.reference,
        expected=_expected(resolution),
        skipped_mirrors=tuple((s.location, s.reason) for s in resolution.skipped_mirrors),
        attempts=judgement.attempts,
        served_by=judgement.served_by,
        served_by_kind=judgement.served_by_kind,
        findings=tuple(findings),
        probes=probes,
        rounds=log.rounds,
        exit_code=exit_code,
        duration_seconds=None if duration is None else round(duration, 3),
        final_error=log.final_error,
        log=redact(raw),
    )


def _repo_digests(records: Iterable[dict[str, Any]]) -> list[str]:
    """``repository@sha256:...`` of every image of a containers/storage images.json: each
    name's repository with each manifest digest the image was stored under (what podman
    shows as RepoDigests)."""
    found: list[str] = []
    for record in records:
        digests = [record.get("digest"), *(record.get("digests") or [])]
        digests += [
            key[len("manifest-") :]
            for key in record.get("big-data-names") or []
            if isinstance(key, str) and key.startswith("manifest-sha256:")
        ]
        for name in record.get("names") or []:
            if not isinstance(name, str):
                continue
            repository = name.split("@", 1)[0]
            if ":" in repository.rsplit("/", 1)[-1]:
                repository = repository.rsplit(":", 1)[0]  # the tag
            for digest in digests:
                if isinstance(digest, str) and digest.startswith("sha256:"):
                    pinned = f"{repository}@{digest}"
                    if pinned not in found:
                        found.append(pinned)
    return found


def _digest_pull_uses_mirrors(entry: RegistryEntry) -> bool:
    """Does a pull by digest try any of the entry's mirrors? Not when all are tag-only."""
    return any(
        entry.mirror_by_digest_only or mirror.pull_from_mirror != "tag-only"
        for mirror in entry.mirrors
    )


_TAG_ONLY_UNVERIFIED = (
    'every mirror is pull-from-mirror = "tag-only" (ImageTagMirrorSet): a pull by digest '
    "skips them all, so no image held by digest can verify them; check a tag with --image"
)


def auto_images(config: Configuration, held: Iterable[str]) -> tuple[list[str], list[NotVerified]]:
    """One image per mirrored entry that the node holds by digest and that entry resolves.

    An entry whose mirrors are all tag-only (ImageTagMirrorSet) is listed as not verified
    instead: a digest pull would skip every mirror and only reach the source. Tags the node
    holds are not used for it: pulling a tag into the node's own store (``--storage node``)
    re-resolves it and may move it to another image under CRI-O's feet.
    """
    chosen: dict[str, str] = {}
    for name in sorted(held):
        try:
            parsed = references.parse_normalized(name)
        except references.ReferenceError:
            continue
        entry = find_entry(config, parsed.name)
        if (
            entry is not None
            and entry.mirrors
            and entry.prefix not in chosen
            and _digest_pull_uses_mirrors(entry)
        ):
            chosen[entry.prefix] = str(parsed.for_pull())
    images, missing = [], []
    for entry in config.registries:
        if not entry.mirrors:
            continue
        if entry.prefix in chosen:
            images.append(chosen[entry.prefix])
        elif not _digest_pull_uses_mirrors(entry):
            missing.append(NotVerified(entry.prefix, _TAG_ONLY_UNVERIFIED))
        else:
            missing.append(
                NotVerified(
                    entry.prefix, "the node holds no image by digest that this entry resolves"
                )
            )
    return images, missing


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
        return _replace(
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
    results_list: list[ImageResult] = []
    interrupted: Optional[str] = None
    for image in images:
        try:
            results_list.append(check_image(runner, loaded, image, options, progress))
        except (KeyboardInterrupt, Terminated) as stop:
            # Ctrl-C or SIGTERM: the runner has killed podman and removed scratch storage;
            # what was checked is still reported.
            interrupted = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
            done = {result.image for result in results_list}
            results_list += [
                _error_result(rest, "interrupted", "the check was interrupted before this image")
                for rest in images
                if rest not in done
            ]
            findings.append(Finding("interrupted", "error", "the check was interrupted"))
            break
    results = tuple(results_list)
    node_findings = tuple(findings)
    verdicts = [result.verdict for result in results] + [verdict_of(node_findings)]
    if not_verified:
        verdicts.append("warn")
    return _replace(
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


def _node_images(runner: NodeRunner) -> list[str] | Finding:
    try:
        records = runner.node_store_images()
    except CheckEnvironmentError as exc:
        return Finding("auto-unavailable", "error", f"cannot list the node's images: {exc.message}")
    return _repo_digests(records)


def _config_error_json(error: ConfigError) -> dict[str, object]:
    return {"kind": error.kind, "message": error.message, "file": error.file, "line": error.line}


def _replace(report: CheckReport, **changes: object) -> CheckReport:
    return replace(report, **changes)  # type: ignore[arg-type]


def read_images_file(text: str, name: str) -> list[str]:
    """One reference per line; blank lines and ``#`` comments ignored."""
    return [image for image, _method in read_image_lines(text, name)]


_METHODS = ("pull", "manifest")


def read_image_lines(text: str, name: str) -> list[tuple[str, Optional[str]]]:
    """(reference, method) per line: ``REF  # method=manifest`` picks the method for REF.

    The option lives in the comment, so agents that do not know it still read the
    reference (and check it with their default method). Other comment text is ignored.
    """
    images: list[tuple[str, Optional[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        code, _, comment = line.partition("#")
        stripped = code.strip()
        if not stripped:
            continue
        if " " in stripped or "\t" in stripped:
            raise AgentError(f"{name}:{number}: one image reference per line, got {stripped!r}")
        method = None
        for word in comment.split():
            key, equals, value = word.partition("=")
            if key == "method" and equals:
                if value not in _METHODS:
                    raise AgentError(
                        f"{name}:{number}: method={value}: use method=pull or method=manifest"
                    )
                method = value
        images.append((stripped, method))
    return images


def analyze_log(
    loaded: LoadedHost,
    text: str,
    *,
    source: str,
    image: Optional[str],
    exit_code: Optional[int],
    checked_at: str,
    agent_version: str,
) -> CheckReport:
    """``agent analyze``: the parser and the judge over a log captured elsewhere."""
    text = plain_text(text)  # pasted from a terminal: colours, CRLF
    config = loaded.config
    report = CheckReport(
        node=f"(log {source})",
        checked_at=checked_at,
        verdict="error",
        method="log",
        storage="-",
        registries_files=config.files,
        fingerprint=config.fingerprint,
        behaviour=config.compat.label,
        agent_version=agent_version,
    )
    probe = parse_pull_log(text, exit_code=exit_code)
    if probe.tool == "crio" and image is None:
        results = tuple(_journal_result(loaded, pull) for pull in parse_crio_journal(text))
    elif probe.tool == "crio" and image is not None:
        # A journal holds the pulls of many images: judge the given one, not the last pull.
        pulls = parse_crio_journal(text)
        results = (_journal_image_result(loaded, pulls, image, source, exit_code, text),)
    else:
        # issue 18: podman/skopeo output, pasted errors, kubelet events; one result per image
        from agent.analyze_pasted import pasted_results

        results = pasted_results(loaded, text, image=image, exit_code=exit_code)
        if not results:
            finding = Finding(
                "no-pull-in-log",
                "error",
                "the log shows no pull attempt; pass --image if it is truncated",
            )
            return _replace(report, findings=(finding,))
    if not results:
        finding = Finding("no-pull-in-log", "error", "the journal excerpt shows no pull")
        return _replace(report, findings=(finding,))
    return _replace(report, images=results, verdict=worst([r.verdict for r in results]))


def _journal_source(loaded: LoadedHost, pull: JournalPull) -> str:
    """The image a CRI-O pull was for.

    Without a ``Pulling image`` line (a grep'd excerpt) the journal only names the first
    location tried, and a mirror shared by several entries stands for several sources:
    the one whose pull sources include every location the pull tried is taken.
    """
    candidates = sources_of(loaded.config, pull.image)
    tried = {attempt.location for attempt in pull.attempts}
    for candidate in candidates if len(candidates) > 1 else ():
        explanation = loaded.explain(candidate)
        if explanation.problem or len(explanation.resolutions) != 1:
            continue
        if tried <= {source.location for source in explanation.resolutions[0].pull_sources}:
            return candidate
    return candidates[0]


def _journal_reference(loaded: LoadedHost, pull: JournalPull) -> Optional[str]:
    """The reference a journal pull was for, as podman pulls it (None: not a valid one)."""
    mapped = _journal_source(loaded, pull)
    try:
        if references.is_short_name(mapped):
            return mapped  # resolved by CRI-O's own search; compared as written
        return str(references.parse_normalized(mapped).for_pull())
    except references.ReferenceError:
        return None


def _journal_image_result(
    loaded: LoadedHost,
    pulls: Sequence[JournalPull],
    image: str,
    source: str,
    exit_code: Optional[int],
    raw: str,
) -> ImageResult:
    """``analyze JOURNAL --image X``: the last pull of X decides, earlier ones are retries."""
    explanation = loaded.explain(image)
    if explanation.problem:
        return _error_result(image, explanation.problem.kind, explanation.problem.message)
    wanted = {resolution.reference for resolution in explanation.resolutions} | {image}
    mine = [pull for pull in pulls if _journal_reference(loaded, pull) in wanted]
    if not mine:
        others = sorted({_journal_source(loaded, pull) for pull in pulls})
        seen = f"it shows pulls of {', '.join(others[:5])}" + (
            f" and {len(others) - 5} more" if len(others) > 5 else ""
        )
        return _error_result(
            image,
            "no-pull-in-log",
            f"{source} shows no CRI-O pull of {explanation.normalized or image} "
            f"({seen if others else 'it shows no pull at all'})",
            reference=explanation.normalized,
        )
    return _journal_result(
        loaded, mine[-1], image=image, earlier=mine[:-1], exit_code=exit_code, raw=raw
    )


def _journal_result(
    loaded: LoadedHost,
    pull: JournalPull,
    *,
    image: Optional[str] = None,
    earlier: Sequence[JournalPull] = (),
    exit_code: Optional[int] = None,
    raw: str = "",
) -> ImageResult:
    """One CRI-O pull judged; ``earlier`` pulls of the same image are its earlier rounds."""
    mapped = _journal_source(loaded, pull)
    explanation = loaded.explain(mapped)
    name = image or mapped
    if explanation.problem or len(explanation.resolutions) != 1:
        message = explanation.problem.message if explanation.problem else "short name"
        return _error_result(name, "unresolvable", message)
    attempts = pull.attempts
    if exit_code == 0 and attempts and attempts[-1].outcome == "unfinished":
        # Told that the pull succeeded: its last attempt served it, as in parse_pull_log.
        attempts = (*attempts[:-1], replace(attempts[-1], outcome="served"))
    log = PullLog(
        tool="crio",
        attempts=attempts,
        rounds=1 + len(earlier),
        earlier_rounds=tuple(previous.attempts for previous in earlier),
        config_files=(),
        final_error=pull.error,  # the kubelet's, when the text holds it (issue 18)
        final_error_sources=(),
        shutdown=False,
        served_by=next((a.location for a in attempts if a.outcome == "served"), None),
    )
    if exit_code is None:
        exit_code = 0 if log.served_by else None
    result = _result_from_log(
        name,
        explanation.resolutions[0],
        log,
        exit_code=exit_code,
        timed_out=False,
        duration=None,
        raw=raw,
    )
    if (
        exit_code is None
        and pull.pulled is None
        and pull.error is None
        and attempts[-1:]
        and (attempts[-1].outcome == "unfinished")
    ):
        # No end in the journal: CRI-O logs one only for a success (a failure is in the
        # kubelet's events), and a grep'd excerpt may have dropped it. Unknown is not
        # "nothing served it".
        unknown = Finding(
            "outcome-unknown",
            "error",
            f"the journal does not show how this pull ended: no 'Pulled image' line after "
            f"{attempts[-1].location} (CRI-O logs one only when a pull succeeds; a failure "
            "is in the kubelet's events: oc get events --field-selector reason=Failed)",
        )
        findings = [f for f in result.findings if f.code not in ("not-served", unknown.code)]
        findings.append(unknown)
        result = replace(result, findings=tuple(findings), verdict=verdict_of(findings))
    return result


def summarise_history(loaded: LoadedHost, journal: str) -> list[dict[str, object]]:
    """``--history``: which source served each pull CRI-O really made recently."""
    entries: list[dict[str, object]] = []
    for pull in parse_crio_journal(journal):
        result = _journal_result(loaded, pull)
        entries.append(
            {
                "time": pull.time,
                "image": result.image,  # the source a grep'd pull stands for, too
                "pulled": pull.pulled,
                "servedBy": result.served_by,
                "servedByKind": result.served_by_kind,
                "verdict": result.verdict,
                "attempts": [attempt.to_json() for attempt in result.attempts],
                "findings": [finding.to_json() for finding in result.findings],
            }
        )
    return entries


__all__: Sequence[str] = (
    "CheckOptions",
    "analyze_log",
    "auto_images",
    "check_image",
    "read_image_lines",
    "read_images_file",
    "run_check",
    "summarise_history",
)
