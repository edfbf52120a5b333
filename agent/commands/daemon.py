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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from agent import registries
from agent.commands.check import CheckOptions, compat_of, run_check
from agent.commands.checks_file import read_image_lines
from agent.errors import AgentError, ExitCode, UsageError
from agent.kube.client import KubeClient
from agent.kube.config import SERVICE_ACCOUNT, ClusterConfig, from_kubeconfig, in_cluster
from agent.kube.contract import CHECKLIST_KEY
from agent.kube.publish import NodeReportPublisher
from agent.node.heartbeat import HeartbeatFile
from agent.node.paths import (
    ROOT_HOME,
    SYSTEM_DROP_INS,
    SYSTEM_MAIN,
    USER_DROP_INS,
    USER_MAIN,
    HostRoot,
)
from agent.process import Terminated, stop_signals_raise
from agent.pull.runner import NodeRunner
from agent.registries import LoadedHost
from agent.registries.model import CURRENT, Compat
from agent.report import CheckReport, Finding, timestamp, worst

PUBLISH_BACKOFF_MAX = 300.0
#: With --cycles: how long a report that could not be published is still retried before
#: the agent gives up (a one-shot Job should not report success with the report lost).
PUBLISH_PATIENCE = 300.0


@dataclass(frozen=True)
class RunSettings:
    node: str
    namespace: str
    host_root: Path
    images: tuple[str, ...] = ()
    images_file: Optional[Path] = None
    auto: bool = False
    method: str = "pull"
    storage: str = "scratch"
    interval: float = 6 * 3600.0
    jitter: float = 60.0
    poll: float = 30.0
    heartbeat_file: Optional[Path] = None
    log_format: str = "text"
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
        paths.append(host.resolve(main))
        with contextlib.suppress(OSError):  # no drop-in folder: nothing to add
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
        except AgentError as error:
            self.failures += 1
            self.last_error = str(error)
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
        runner: NodeRunner,
        load: Callable[[Compat], LoadedHost],
        publisher: Publisher,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], str] = timestamp,
        out: Optional[TextIO] = None,
        agent_version: str = "",
        rng: Optional[random.Random] = None,
    ) -> None:
        self.settings = settings
        self.runner = runner
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
        self._heartbeat = HeartbeatFile(settings.heartbeat_file)

    # -- triggers ----------------------------------------------------------------------

    def images(self) -> tuple[list[str], Optional[str]]:
        """The images to check and a hash of the checks files (a change triggers a check).

        Besides ``--images-file``, the agent reads ``checklist.txt`` in the same folder: the
        key of the checks ConfigMap that ``agent checklist pre-upgrade`` owns. A line's
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
            texts = []
            for one in (path, path.parent / CHECKLIST_KEY):
                try:
                    text = one.read_text()
                except OSError:
                    text = ""  # not mounted yet, or the ConfigMap lacks the key
                texts.append(text)
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
            joined = texts[0] if not texts[1] else "\0".join(texts)
            digest = hashlib.sha256(joined.encode()).hexdigest()
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
        except AgentError as error:
            self._fingerprint = f"invalid:{error}"
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
        if self.clock() - self._last_check >= self.settings.interval:
            return "interval"
        return None

    # -- one cycle -----------------------------------------------------------------------

    def cycle(self, reason: str) -> CheckReport:
        images, images_hash = self.images()
        self._images_hash = images_hash
        for problem in self.images_problems:
            self.log_line({"event": "images-file-invalid", "error": problem})
        self._checked_fingerprint = self.fingerprint()
        started = self.clock()
        report = run_check(
            self.runner,
            self.load,
            CheckOptions(
                tuple(images),
                self.settings.auto,
                self.settings.method,
                manifest_images=self.manifest_images,
                pull_images=self.pull_images,
                parallel=self.settings.parallel,
            ),
            node=self.settings.node,
            checked_at=self.now(),
            agent_version=self.agent_version,
            storage=self.settings.storage,
            # each image and each source tried: the liveness probe sees a long check going on
            progress=lambda image, what: self.heartbeat(),
        )
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
        if report.podman_version:
            self._compat = compat_of(report.podman_version)
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

    def log_line(self, fields: dict[str, Any]) -> None:
        fields = {"time": self.now(), **fields}
        if self.settings.log_format == "json":
            line = json.dumps(fields, separators=(",", ":"))
        else:
            line = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        self.out.write(line + "\n")
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
        reason = self.due()
        if reason is None:
            return None
        delay = self.rng.uniform(0, self.settings.jitter) if self.settings.jitter > 0 else 0.0
        if delay:
            self.log_line({"event": "waiting", "reason": reason, "seconds": round(delay, 1)})
            self._sleep_with_heartbeat(delay)
        return self.cycle(reason)

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


def service_namespace(env: Mapping[str, str], account_dir: Path) -> Optional[str]:
    namespace_file = account_dir / "namespace"
    try:
        return namespace_file.read_text().strip() or env.get("POD_NAMESPACE")
    except OSError:
        return env.get("POD_NAMESPACE")


# -- agent run: the agent wired to the node and to the API server -----------------------------


def cluster_config(kubeconfig: Optional[str], env: Mapping[str, str]) -> ClusterConfig:
    """Outside a pod, as --kubeconfig's help says: --kubeconfig or KUBECONFIG; inside, the
    pod's service account."""
    if kubeconfig or env.get("KUBECONFIG"):
        return from_kubeconfig(kubeconfig, env=env)
    return in_cluster(env)


def connect(
    kubeconfig: Optional[str], namespace: Optional[str], env: Mapping[str, str]
) -> tuple[KubeClient, str]:
    """The API client and the namespace the reports go to (--namespace, else the
    kubeconfig's, the service account's or POD_NAMESPACE)."""
    config = cluster_config(kubeconfig, env)
    ns = namespace or config.namespace or service_namespace(env, SERVICE_ACCOUNT)
    if not ns:
        raise UsageError("no namespace: --namespace, the service account or POD_NAMESPACE")
    return KubeClient(config), ns


def serve(
    settings: RunSettings,
    runner: NodeRunner,
    client: KubeClient,
    *,
    cycles: Optional[int],
    agent_version: str,
) -> ExitCode:
    """Run the agent until stopped (or for ``cycles`` checks), publishing to ``client``.

    A stop (SIGTERM, Ctrl-C) is a normal end (OK); a one-shot run (``cycles``) whose last
    report could not be published is not (ENVIRONMENT).
    """
    send = NodeReportPublisher(client, namespace=settings.namespace, node_name=settings.node)
    agent = Agent(
        settings,
        runner=runner,
        load=lambda compat: registries.load(settings.host_root, compat=compat),
        publisher=Publisher(send, clock=time.monotonic),
        agent_version=agent_version,
    )
    stopped = True
    try:
        with stop_signals_raise():
            agent.run_forever(max_cycles=cycles)
        stopped = False  # ended after --cycles checks
    except Terminated:
        agent.log_line({"event": "terminated", "node": settings.node})
    except KeyboardInterrupt:
        agent.log_line({"event": "interrupted", "node": settings.node})
    if agent.publisher.pending is not None:
        # no error yet: the stop came while the report was being sent
        error = agent.publisher.last_error or "stopped while publishing; it may not have arrived"
        agent.log_line({"event": "unpublished", "error": error})
        if not stopped:  # a one-shot run whose report was lost must not look successful
            return ExitCode.ENVIRONMENT
    return ExitCode.OK


__all__: Sequence[str] = (
    "Agent",
    "Publisher",
    "RunSettings",
    "cluster_config",
    "config_signature",
    "connect",
    "serve",
    "service_namespace",
)
