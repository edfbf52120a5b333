"""``agent run``: the cluster it reports to (in-cluster or a kubeconfig, the namespace) and
the life of its loop (:class:`agent.commands.daemon.Agent`): started with the node's
redactor and the Node events, stopped by SIGTERM or Ctrl-C, its exit code."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Optional, Union

from agent import registries
from agent.commands.daemon import Agent, Publisher, RunSettings
from agent.commands.node_events import with_node_events
from agent.errors import ExitCode, UsageError
from agent.kube.client import KubeClient
from agent.kube.config import SERVICE_ACCOUNT, ClusterConfig, from_kubeconfig, in_cluster
from agent.kube.contract import reports_namespace
from agent.kube.publish import NodeReportPublisher
from agent.node.last_verdict import LastVerdictFile
from agent.process import Terminated, stop_signals_raise
from agent.pull.log.redact import Redactor, redact
from agent.pull.runner import NodeRunner
from agent.safe_read import (
    SMALL_FILE_LIMIT,
    UnsafeFile,
    read_text,
)


def service_namespace(env: Mapping[str, str], account_dir: Path) -> Optional[str]:
    namespace_file = account_dir / "namespace"
    try:
        text = read_text(namespace_file, limit=SMALL_FILE_LIMIT, missing_ok=True) or ""
    except UnsafeFile:
        text = ""
    return text.strip() or env.get("POD_NAMESPACE")


# -- agent run: the agent wired to the node and to the API server -----------------------------


def cluster_config(kubeconfig: Optional[str], env: Mapping[str, str]) -> ClusterConfig:
    """Outside a pod, as --kubeconfig's help says: --kubeconfig or KUBECONFIG; inside, the
    pod's service account."""
    if kubeconfig or env.get("KUBECONFIG"):
        return from_kubeconfig(kubeconfig, env=env)
    return in_cluster(env)


def connect(
    kubeconfig: Optional[str],
    namespace: Optional[str],
    env: Mapping[str, str],
    reports: Optional[str] = None,
) -> tuple[KubeClient, str]:
    """The API client and the namespace the reports go to: ``reports``
    (--reports-namespace), else mirror-agent's namespace (--namespace, else the
    kubeconfig's, the service account's or POD_NAMESPACE) + ``-reports``."""
    config = cluster_config(kubeconfig, env)
    ns = namespace or config.namespace or service_namespace(env, SERVICE_ACCOUNT)
    if not ns and reports is None:
        raise UsageError(
            "no namespace: --namespace, --reports-namespace, the service account or POD_NAMESPACE"
        )
    return KubeClient(config), reports_namespace(ns or "", reports)


def serve(
    settings: RunSettings,
    runner: Union[NodeRunner, Callable[[], NodeRunner]],
    client: KubeClient,
    *,
    cycles: Optional[int],
    agent_version: str,
) -> ExitCode:
    """Run the agent until stopped (or for ``cycles`` checks), publishing to ``client``.

    A stop (SIGTERM, Ctrl-C) of the DaemonSet's endless loop is a normal end (OK). A
    one-shot run (``cycles``) that ends without its last report published (the API
    refused it, or a stop came first) is not: ENVIRONMENT, never OK.
    """
    reports = NodeReportPublisher(
        client, namespace=settings.reports_namespace, node_name=settings.node
    )
    send = with_node_events(  # an Event on the Node when its verdict changes
        reports,
        client,
        node=settings.node,
        remembered=LastVerdictFile.beside(settings.heartbeat_file),
    )
    agent = Agent(
        settings,
        runner=runner,
        load=lambda compat: registries.load(settings.host_root, compat=compat),
        publisher=Publisher(send, clock=time.monotonic),
        agent_version=agent_version,
        complete=reports.complete,
        # a factory's runners remake it at every check (Agent.node_runner)
        redact=redact if callable(runner) else Redactor.of(runner.settings.secret_values()),
    )
    send.log = agent.log_line
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
        if cycles is not None:  # a one-shot run whose report was lost must not look successful
            return ExitCode.ENVIRONMENT
    elif cycles is not None and stopped:
        # stopped before its checks were all made and published
        agent.log_line({"event": "unpublished", "error": f"stopped before {cycles} check(s)"})
        return ExitCode.ENVIRONMENT
    return ExitCode.OK


__all__ = ("cluster_config", "connect", "serve", "service_namespace")
