"""``agent run``: the DaemonSet loop — check, publish the report, watch for changes.

A check runs at start, whenever the node's effective registries.conf changes (the Machine
Config Operator rewrites it during rollouts), whenever the mounted checks file changes
(the kubelet refreshes mounted ConfigMaps), and every ``interval``; each after a random
delay of up to ``jitter`` so that hundreds of nodes do not hit the mirrors together.
A report that cannot be published is kept and retried with backoff; API errors never
end the loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, TextIO, Union

from agent.commands.check import CheckOptions, compat_of, run_check
from agent.commands.checks_file import read_image_lines
from agent.commands.recheck import read_recheck, seen_requests
from agent.commands.results import secure_report
from agent.errors import AgentError
from agent.kube.contract import CHECKLIST_KEY, PLAN_KEY
from agent.node.heartbeat import HeartbeatFile
from agent.node.paths import (
    ROOT_HOME,
    SYSTEM_DROP_INS,
    SYSTEM_MAIN,
    USER_DROP_INS,
    USER_MAIN,
    HostRoot,
)
from agent.output.text import terminal_safe
from agent.process import Terminated
from agent.pull.log.redact import Redactor, redact
from agent.pull.runner import NodeRunner
from agent.registries import LoadedHost
from agent.registries.model import CURRENT, Compat
from agent.report import CheckReport, Finding, timestamp, worst
from agent.safe_read import (
    CHECKS_FILE_LIMIT,
    UnsafeFile,
    decode_text,
    read_bytes,
)
from agent.vocabulary import Method

PUBLISH_BACKOFF_MAX = 300.0
#: With --cycles: how long a report that could not be published is still retried before
#: the agent gives up (a one-shot Job should not report success with the report lost).
PUBLISH_PATIENCE = 300.0


@dataclass(frozen=True)
class RunSettings:
    node: str
    reports_namespace: str  # where the node's report is published
    host_root: Path
    images: tuple[str, ...] = ()
    images_file: Optional[Path] = None
    auto: bool = False
    method: Method = "pull"
    storage: str = "scratch"
    interval: float = 6 * 3600.0
    jitter: float = 60.0
    poll: float = 30.0
    heartbeat_file: Optional[Path] = None
    log_format: str = "text"
    max_images: Optional[int] = None
    covered_only: bool = False
    parallel: Optional[int] = None  # images checked at once (None: per-method defaults)


def config_signature(host_root: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every file registries.load may read for root (the node's
    main file and drop-ins, root's own file and drop-ins): cheap to poll."""
    host = HostRoot(host_root)
    paths = []
    for main, drop_in_dir in (
        (SYSTEM_MAIN, SYSTEM_DROP_INS),
        (f"{ROOT_HOME}/{USER_MAIN}", f"{ROOT_HOME}/{USER_DROP_INS}"),
    ):
        # a path that cannot be resolved or listed is left out: loading it reports why
        with contextlib.suppress(OSError, ValueError, RuntimeError, AgentError):
            paths.append(host.resolve(main))
        with contextlib.suppress(OSError, ValueError, RuntimeError, AgentError):
            drop_ins = host.resolve(drop_in_dir)
            paths += sorted(p for p in drop_ins.iterdir() if p.name.endswith(".conf"))
    signature = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        signature.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(signature)


class Publisher:
    """Publishes reports; keeps the latest unpublished one and retries it with backoff."""

    def __init__(self, publish: Callable[[CheckReport], None], *, clock: Callable[[], float]):
        self._publish = publish
        self._clock = clock
        self.pending: Optional[CheckReport] = None
        self.failures = 0
        self.next_try = 0.0
        self.last_error: Optional[str] = None

    def submit(self, report: CheckReport) -> bool:
        self.pending = report  # a newer report replaces an unpublished older one
        self.failures = 0
        self.next_try = 0.0
        return self.retry()

    def retry(self) -> bool:
        if self.pending is None or self._clock() < self.next_try:
            return self.pending is None
        try:
            self._publish(self.pending)
        except Exception as error:  # kept and retried, never the loop's end
            self.failures += 1
            self.last_error = (
                str(error) if isinstance(error, AgentError) else f"{type(error).__name__}: {error}"
            )
            delay = min(PUBLISH_BACKOFF_MAX, 2.0 ** min(self.failures, 10))
            self.next_try = self._clock() + delay * random.uniform(0.5, 1.0)
            return False
        self.pending, self.failures, self.last_error = None, 0, None
        return True


class Agent:
    def __init__(
        self,
        settings: RunSettings,
        *,
        runner: Union[NodeRunner, Callable[[], NodeRunner]],
        load: Callable[[Compat], LoadedHost],
        publisher: Publisher,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], str] = timestamp,
        out: Optional[TextIO] = None,
        agent_version: str = "",
        rng: Optional[random.Random] = None,
        complete: Optional[Callable[[], bool]] = None,
        redact: Callable[[str], str] = redact,
    ) -> None:
        self.settings = settings
        #: the node's credentials out of reports and log lines: remade from the node's
        #: settings with each runner a factory makes (NodeSettings.secret_values)
        self.redact = redact
        # A factory is called at every check: the node's settings (pull secret, proxy) are
        # read then, and a node that cannot be read is that check's error report.
        self.runner: Optional[NodeRunner] = None if callable(runner) else runner
        self._make_runner = runner if callable(runner) else None
        self.load = load
        self.publisher = publisher
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.out = out if out is not None else sys.stdout  # the stream of now, not of import
        self.agent_version = agent_version
        self.rng = rng or random.Random()
        self._fingerprint: Optional[str] = None
        self._checked_fingerprint: Optional[str] = None  # of the last check
        self._signature: Optional[tuple[tuple[str, int, int], ...]] = None
        self._images_hash: Optional[str] = None
        self._last_check = 0.0
        self._compat: Optional[Compat] = None
        self.manifest_images: tuple[str, ...] = ()
        self.pull_images: tuple[str, ...] = ()
        self.images_problems: tuple[str, ...] = ()  # why a checks file was not usable
        self._recheck_seen: dict[str, str] = {}  # agent recheck's ids at the last check
        self.recheck_problem = ""  # what is wrong with the mounted recheck.json
        self._heartbeat = HeartbeatFile(settings.heartbeat_file)
        self._logged: set[str] = set()
        self.complete = complete

    # -- triggers ----------------------------------------------------------------------

    def images(self) -> tuple[list[str], Optional[str]]:
        """The images to check and a hash of the checks files (a change triggers a check).

        Besides ``--images-file``, the agent reads ``checklist.txt`` and ``plan.txt`` in the
        same folder: the keys of the checks ConfigMap that ``agent checklist pre-upgrade``
        and ``agent plan --probe-on-nodes`` own. A line's
        ``# method=manifest`` / ``# method=pull`` option is remembered in
        :attr:`manifest_images` / :attr:`pull_images`.
        """
        images = list(self.settings.images)
        manifest: list[str] = []
        pull: list[str] = []
        problems: list[str] = []
        digest = None
        path = self.settings.images_file
        if path is not None:
            texts: list[bytes] = []
            for one in (path, path.parent / CHECKLIST_KEY, path.parent / PLAN_KEY):
                try:  # absent: not mounted yet, or the ConfigMap lacks the key
                    data = read_bytes(one, limit=CHECKS_FILE_LIMIT, missing_ok=True) or b""
                    text = decode_text(data, str(one))
                except UnsafeFile as error:  # a FIFO, too large, not UTF-8...
                    texts.append(b"")
                    problems.append(str(error))
                    continue
                texts.append(data)
                try:
                    lines = read_image_lines(text, str(one))
                except AgentError as error:
                    problems.append(str(error))  # logged and reported by the next check
                    continue
                for image, method in lines:
                    if image not in images:
                        images.append(image)
                    if method == "manifest" and image not in manifest:
                        manifest.append(image)
                    if method == "pull" and image not in pull:
                        pull.append(image)
            # The first file alone hashes as before, so an upgrade triggers no extra check.
            while len(texts) > 1 and not texts[-1]:
                texts.pop()
            joined = b"\0".join(texts)
            digest = hashlib.sha256(joined).hexdigest()
        self.manifest_images = tuple(manifest)
        self.pull_images = tuple(pull)
        self.images_problems = tuple(problems)
        return images, digest

    def fingerprint(self) -> Optional[str]:
        """The effective registries.conf fingerprint, recomputed only when files changed."""
        signature = config_signature(self.settings.host_root)
        if signature == self._signature and self._fingerprint is not None:
            return self._fingerprint
        self._signature = signature
        try:
            self._fingerprint = self.load(self._compat or CURRENT).config.fingerprint
        except Exception as error:  # any failure: the check reports it, the loop goes on
            self._fingerprint = f"invalid:{type(error).__name__}:{error}"
        return self._fingerprint

    def due(self) -> Optional[str]:
        """Why a check is due now, or None."""
        if self._last_check == 0.0:
            return "start"
        fingerprint = self.fingerprint()
        if fingerprint != self._checked_fingerprint:
            return "registries.conf changed"
        _, images_hash = self.images()
        if images_hash != self._images_hash:
            return "checks file changed"
        if seen_requests(self.settings.images_file, self.settings.node) != self._recheck_seen:
            return "recheck requested"
        if self.clock() - self._last_check >= self.settings.interval:
            return "interval"
        return None

    # -- one cycle -----------------------------------------------------------------------

    def cycle(self, reason: str) -> CheckReport:
        started = self.clock()
        try:
            report = self._check()
        except Exception as error:  # whatever it is, a report says so
            # A checks file, a registries.conf or a node state that breaks the check must
            # not end the loop (the pod would crash-loop and the node never report again):
            # the report carries the error, the log says it once, the next check retries.
            report = self._error_report(error)
        self._last_check = self.clock()
        interrupted = report.extra.get("interrupted")
        if interrupted:
            # The agent itself is stopping (pod deleted, node rebooting): the last complete
            # report stays published rather than an "interrupted" one, and the stop goes on.
            self.log_line(
                {
                    "event": "check-interrupted",
                    "reason": reason,
                    "node": report.node,
                    "signal": interrupted,
                    "published": False,
                }
            )
            raise Terminated() if interrupted == "SIGTERM" else KeyboardInterrupt()
        if self.images_problems:
            # the images of an unusable checks file were not checked: the report says so
            unusable = [Finding("checks-file-invalid", "error", p) for p in self.images_problems]
            report = replace(
                report,
                findings=(*report.findings, *unusable),
                verdict=worst([report.verdict, "error"]),
            )
        if self.recheck_problem:  # the images were checked; the requests were not readable
            report = replace(
                report,
                findings=(
                    *report.findings,
                    Finding("recheck-invalid", "warn", self.recheck_problem),
                ),
                verdict=worst([report.verdict, "warn"]),
            )
        if self._recheck_seen:  # agent collect tells who has checked since a request by these
            report = replace(report, extra={**report.extra, "recheck": self._recheck_seen})
        if report.podman_version:
            self._compat = compat_of(report.podman_version)
        report = secure_report(report, self.redact)
        published = self.publisher.submit(report)
        counts = {
            v: sum(1 for i in report.images if i.verdict == v)
            for v in ("pass", "warn", "fail", "error")
        }
        self.log_line(
            {
                "event": "check",
                "reason": reason,
                "node": report.node,
                "verdict": report.verdict,
                "images": len(report.images),
                **counts,
                "fingerprint": report.fingerprint,
                "published": published,
                "publishError": None if published else self.publisher.last_error,
                "seconds": round(self._last_check - started, 1),
            }
        )
        return report

    def _check(self) -> CheckReport:
        images, images_hash = self.images()
        self._images_hash = images_hash
        # before anything else may fail: due() compares with it at every poll
        self._checked_fingerprint = self.fingerprint()
        self._recheck_seen, self.recheck_problem = read_recheck(
            self.settings.images_file, self.settings.node
        )
        for problem in self.images_problems:
            self.log_once({"event": "images-file-invalid", "level": "error", "error": problem})
        if self.recheck_problem:
            self.log_once(
                {"event": "recheck-invalid", "level": "warning", "error": self.recheck_problem}
            )
        return run_check(
            self.node_runner(),
            self.load,
            CheckOptions(
                tuple(images),
                self.settings.auto,
                self.settings.method,
                manifest_images=self.manifest_images,
                pull_images=self.pull_images,
                max_images=self.settings.max_images,
                covered_only=self.settings.covered_only,
                parallel=self.settings.parallel,
            ),
            node=self.settings.node,
            checked_at=self.now(),
            agent_version=self.agent_version,
            storage=self.settings.storage,
            # each image and each source tried: the liveness probe sees a long check going on
            progress=lambda image, what: self.heartbeat(),
        )

    def node_runner(self) -> NodeRunner:
        """The runner of this check: made now when a factory was given (the node's
        settings are read again at every check)."""
        if self._make_runner is not None:
            self.runner = self._make_runner()
            self.redact = Redactor.of(self.runner.settings.secret_values())
        assert self.runner is not None
        return self.runner

    def _error_report(self, error: Exception) -> CheckReport:
        """The report of a check that could not run at all (verdict error)."""
        if isinstance(error, AgentError):
            message = str(error)
        else:
            message = f"{type(error).__name__}: {error}"
        self.log_once({"event": "check-failed", "level": "error", "error": message})
        return CheckReport(
            node=self.settings.node,
            checked_at=self.now(),
            verdict="error",
            method=self.settings.method,
            storage=self.settings.storage,
            agent_version=self.agent_version,
            findings=(Finding("check-failed", "error", f"the check could not run: {message}"),),
        )

    def log_once(self, fields: dict[str, Any]) -> None:
        """A problem that persists is logged when it first appears, not at every check."""
        key = json.dumps(fields, sort_keys=True)
        if key in self._logged:
            return
        if len(self._logged) >= 1000:  # a problem that keeps changing: said again, bounded
            self._logged.clear()
        self._logged.add(key)
        self.log_line(fields)

    def log_line(self, fields: dict[str, Any]) -> None:
        fields = {"time": self.now(), **fields}
        if self.settings.log_format == "json":
            line = json.dumps(fields, separators=(",", ":"))
        else:
            line = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        # the node's credentials out; a checks file's control characters escaped
        self.out.write(terminal_safe(self.redact(line)) + "\n")
        self.out.flush()

    def heartbeat(self) -> None:
        # a file that cannot be written must not stop the checks: said once, loudly
        problem = self._heartbeat.touch(self.now() + "\n")
        if problem:
            self.log_line({"event": "heartbeat-failed", "level": "error", "error": problem})

    def step(self) -> Optional[CheckReport]:
        """One turn of the loop: publish what is pending, check when due."""
        self.heartbeat()
        if self.publisher.pending is not None and self.publisher.retry():
            self.log_line({"event": "published", "node": self.settings.node})
        if self.publisher.pending is None and self.complete is not None:
            self._complete()
        reason = self.due()
        if reason is None:
            return None
        delay = self.rng.uniform(0, self.settings.jitter) if self.settings.jitter > 0 else 0.0
        if delay:
            self.log_line({"event": "waiting", "reason": reason, "seconds": round(delay, 1)})
            self._sleep_with_heartbeat(delay)
        return self.cycle(reason)

    def _complete(self) -> None:
        """A report published while its Node could not be read lacks the owner reference
        and the Machine Config state: published again once the Node reads."""
        assert self.complete is not None
        try:
            completed = self.complete()
        except Exception as error:  # tried again at the next poll
            self.log_once({"event": "complete-failed", "level": "error", "error": str(error)})
            return
        if completed:
            self.log_line({"event": "completed", "node": self.settings.node})

    def _sleep_with_heartbeat(self, seconds: float) -> None:
        end = self.clock() + seconds
        while True:
            left = end - self.clock()
            if left <= 0:
                return
            self.sleep(min(left, max(self.settings.poll, 1.0)))
            self.heartbeat()

    def run_forever(
        self, *, max_cycles: Optional[int] = None, patience: float = PUBLISH_PATIENCE
    ) -> None:
        """Check and publish until stopped, or after ``max_cycles`` checks once their
        report is published (retried with its backoff for up to ``patience`` seconds)."""
        cycles = 0
        while max_cycles is None or cycles < max_cycles:
            if self.step() is not None:
                cycles += 1
                if max_cycles is not None and cycles >= max_cycles:
                    self._publish_before_leaving(patience)
                    return
            self.sleep(self.settings.poll)

    def _publish_before_leaving(self, patience: float) -> None:
        end = self.clock() + patience
        while self.publisher.pending is not None and self.clock() < end:
            wait = min(self.publisher.next_try, end) - self.clock()
            if wait > 0:
                self.sleep(min(wait, self.settings.poll))
                self.heartbeat()
                continue
            if self.publisher.retry():
                self.log_line({"event": "published", "node": self.settings.node})


__all__ = ("Agent", "Publisher", "RunSettings", "config_signature")
