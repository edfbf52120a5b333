"""``agent collect``: one summary of every node's report."""

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from agent.cli import options
from agent.cli.options import ContextOption, KubeconfigOption, NamespaceOption, StrictOption


class CollectOutput(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    markdown = "markdown"
    junit = "junit"


def collect(
    namespace: NamespaceOption = None,
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
) -> None:
    """Summarise every node's report: pass, fail, missing, stale, orphaned, drift."""
    from datetime import timedelta

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
    if from_file is not None:
        summary = collect_from_files(from_file, nodes_file, max_age=age)
    else:
        summary = collect_from_cluster(
            kubeconfig,
            context,
            namespace,
            max_age=age,
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
