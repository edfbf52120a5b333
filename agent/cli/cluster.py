"""``agent collect``: one summary of every node's report."""

import sys
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

from agent.cli import options
from agent.cli.options import ContextOption, KubeconfigOption, NamespaceOption, StrictOption
from agent.errors import UsageError

if TYPE_CHECKING:
    from agent.collect import Summary


class CollectOutput(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    markdown = "markdown"
    junit = "junit"


def collect(
    namespace: NamespaceOption = None,
    reports_namespace: options.ReportsNamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    from_file: Annotated[
        Optional[str],
        typer.Option("--from-file", help="A ConfigMapList JSON file (or - for stdin)."),
    ] = None,
    nodes_file: Annotated[
        Optional[str],
        typer.Option("--nodes-file", help="With --from-file: a NodeList JSON file."),
    ] = None,
    max_age: Annotated[
        Optional[str], typer.Option("--max-age", help="Reports older than this are stale (6h, 2d).")
    ] = None,
    strict: StrictOption = False,
    as_user: options.AsOption = None,
    as_group: options.AsGroupOption = None,
    as_uid: options.AsUidOption = None,
    output: Annotated[
        CollectOutput, typer.Option("--output", "-o", help="table, wide, json, markdown or junit.")
    ] = CollectOutput.table,
    serve_metrics: Annotated[
        Optional[str],
        typer.Option(
            "--serve-metrics",
            metavar="[HOST]:PORT",
            help="Serve Prometheus metrics there, re-reading the reports every --interval "
            "(docs/alerts.md); runs until stopped.",
        ),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", help="With --serve-metrics: how often to re-read.")
    ] = "60s",
) -> None:
    """Summarise every node's report: pass, fail, missing, stale, orphaned, drift."""
    from agent.commands.collect import collect_from_cluster, collect_from_files

    # only when output is made
    from agent.output.collect import (
        collect_failed,
        collect_junit,
        collect_markdown,
        collect_table,
        write_collect_json,
    )

    age = timedelta(seconds=options.duration("--max-age", max_age)) if max_age else None
    if serve_metrics is not None:
        source = (kubeconfig, context, namespace, reports_namespace, from_file, nodes_file)
        raise typer.Exit(_serve(serve_metrics, interval, *source, age))
    if from_file is not None:
        summary = collect_from_files(from_file, nodes_file, max_age=age)
    else:
        summary = collect_from_cluster(
            kubeconfig,
            context,
            namespace,
            max_age=age,
            reports=reports_namespace,
            as_user=as_user,
            as_groups=as_group,
            as_uid=as_uid,
        )
    if output is CollectOutput.json:
        write_collect_json(summary, sys.stdout)
    elif output is CollectOutput.markdown:
        sys.stdout.write(collect_markdown(summary, strict=strict))
    elif output is CollectOutput.junit:
        sys.stdout.write(collect_junit(summary, strict=strict))
    else:
        wide = output is CollectOutput.wide
        sys.stdout.write(collect_table(summary, wide=wide, strict=strict))
    raise typer.Exit(options.failed_exit(collect_failed(summary, strict)))


def _serve(
    address: str,
    interval: str,
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    reports_namespace: Optional[str],
    from_file: Optional[str],
    nodes_file: Optional[str],
    age: Optional[timedelta],
) -> int:
    """``--serve-metrics``: the exporter (its own module, so prometheus_client is imported
    by this mode only)."""
    from agent.commands.collect import cluster_reader, collect_from_files
    from agent.commands.exporter import serve_metrics

    host, port = options.listen_address("--serve-metrics", address)
    seconds = options.duration("--interval", interval)
    read: Callable[[], Summary]
    if from_file == "-":
        raise UsageError("--serve-metrics re-reads its input: --from-file - (stdin) cannot be")
    if from_file is not None:
        reports_file = from_file

        def read() -> "Summary":
            return collect_from_files(reports_file, nodes_file, max_age=age)

        read()  # a bad file is bad input now, not a failing read every minute
    else:
        read = cluster_reader(
            kubeconfig, context, namespace, max_age=age, reports=reports_namespace
        )
    return serve_metrics(read, host=host, port=port, interval=seconds, out=sys.stdout)


def recheck(
    node: Annotated[
        Optional[str], typer.Option("--node", help="Only this node (default: every node).")
    ] = None,
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Ask every node (or one) to check now, without restarting the agents' pods."""
    from agent.commands.collect import cluster_client
    from agent.commands.recheck import request_recheck
    from agent.report import timestamp

    client, ns = cluster_client(kubeconfig, context, namespace)
    request = request_recheck(client, ns, node, now=timestamp())
    who = f"node {node}" if node else "every node"
    sys.stdout.write(
        f"recheck {request.request_id} requested for {who} at {request.requested_at}\n"
        "the agents see it once the kubelet refreshes the mounted ConfigMap (about a minute, "
        "up to its sync period plus the ConfigMap cache TTL), then within --poll and "
        "--jitter; `agent collect` lists which nodes have checked since\n"
    )
