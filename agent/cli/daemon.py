"""The DaemonSet's commands: ``run`` (check, publish, watch) and ``health`` (its liveness)."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agent import __version__
from agent.cli import options
from agent.cli.options import (
    AutoOption,
    HostRootOption,
    ImagesFileOption,
    ImagesOption,
    KubeconfigOption,
    Method,
    MethodOption,
    MinFreeOption,
    NamespaceOption,
    ParallelOption,
    Storage,
    StorageDriverOption,
    StorageOption,
    TimeoutOption,
)
from agent.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from agent.pull.runner import NodeRunner

_HEARTBEAT_HELP = "The file agent run touches every poll (liveness)."


def run(
    image: ImagesOption = None,
    images_file: ImagesFileOption = None,
    auto: AutoOption = False,
    host_root: HostRootOption = None,
    method: MethodOption = Method.pull,
    storage: StorageOption = Storage.scratch,
    timeout: TimeoutOption = 300.0,
    interval: Annotated[str, typer.Option("--interval", help="Re-check period.")] = "6h",
    jitter: Annotated[str, typer.Option("--jitter", help="Random delay before a check.")] = "60s",
    poll: Annotated[str, typer.Option("--poll", help="How often to look for changes.")] = "30s",
    namespace: NamespaceOption = None,
    reports_namespace: options.ReportsNamespaceOption = None,
    node: Annotated[
        Optional[str], typer.Option("--node", help="Node name (default: NODE_NAME).")
    ] = None,
    kubeconfig: KubeconfigOption = None,
    heartbeat_file: Annotated[
        Optional[Path], typer.Option("--heartbeat-file", help=_HEARTBEAT_HELP)
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    cycles: Annotated[
        Optional[int], typer.Option("--cycles", help="Stop after N checks (tests, one-shot jobs).")
    ] = None,
    storage_driver: StorageDriverOption = None,
    min_free: MinFreeOption = 2.0,
    max_images: options.MaxImagesOption = options.MAX_IMAGES_DEFAULT,
    covered_only: options.CoveredOnlyOption = False,
    parallel: ParallelOption = None,
) -> None:
    """DaemonSet mode: check at start, on changes and periodically; publish ConfigMaps."""
    if log_format not in ("text", "json"):
        raise UsageError("--log-format: text or json")
    options.refuse_option_like(list(image or []))
    root = options.host_root(host_root, must_exist=False, privileged=True)
    node_name = node or os.environ.get("NODE_NAME")
    if not node_name:
        raise UsageError("no node name: set NODE_NAME (downward API) or --node")
    interval_seconds = options.duration("--interval", interval)
    jitter_seconds = options.duration("--jitter", jitter, zero_ok=True)
    poll_seconds = options.duration("--poll", poll)

    from agent.commands import daemon, run

    client, reports = run.connect(kubeconfig, namespace, os.environ, reports_namespace)
    settings = daemon.RunSettings(
        node=node_name,
        reports_namespace=reports,
        host_root=root,
        images=tuple(image or []),
        images_file=images_file,
        auto=auto,
        method=method.value,
        storage=storage.value,
        interval=interval_seconds,
        jitter=jitter_seconds,
        poll=poll_seconds,
        heartbeat_file=heartbeat_file,
        log_format=log_format,
        max_images=max_images,
        covered_only=covered_only,
        parallel=parallel,
    )
    if storage_driver is not None:
        from agent.pull.commands import check_storage_driver

        check_storage_driver(storage_driver)  # bad input: exit 2 now, not an error report

    def runner() -> "NodeRunner":
        # made at every check: a node whose settings cannot be read is an error report
        return options.node_runner(
            root,
            storage=storage,
            timeout=timeout,
            min_free_gib=min_free,
            storage_driver=storage_driver,
        )

    raise typer.Exit(run.serve(settings, runner, client, cycles=cycles, agent_version=__version__))


def health(
    heartbeat_file: Annotated[Path, typer.Option("--heartbeat-file", help=_HEARTBEAT_HELP)],
    max_age: Annotated[
        str, typer.Option("--max-age", help="Older than this: unhealthy (15m, 1h).")
    ] = "15m",
) -> None:
    """Liveness: exit 0 when ``agent run`` touched its heartbeat file recently."""
    from agent.commands.health import unhealthy

    problem = unhealthy(heartbeat_file, options.duration("--max-age", max_age))
    if problem:
        sys.stderr.write(problem + "\n")
        raise typer.Exit(ExitCode.VERIFICATION_FAILED)
