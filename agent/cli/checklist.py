"""``agent checklist``: before and after ``oc adm upgrade --to-image``."""

import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agent import __version__
from agent.cli import options, progress
from agent.cli.options import ContextOption, KubeconfigOption, NamespaceOption, StrictOption
from agent.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from agent.checklist import Checklist

app = typer.Typer(
    no_args_is_help=True,
    help="The disconnected-update checklist, before and after oc adm upgrade --to-image.",
)


class ChecklistOutput(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    junit = "junit"


ChecklistOutputOption = Annotated[
    ChecklistOutput,
    typer.Option("--output", "-o", help="table, markdown (change tickets), json or junit."),
]
OcpVersionOption = Annotated[
    Optional[str],
    typer.Option(
        "--ocp-version",
        help="Render mirror rules as the MCO of this OpenShift version does (default: from "
        "ClusterVersion).",
    ),
]


def _check_ocp_version(text: Optional[str]) -> None:
    from agent.checklist.version import parse_ocp_version

    if text:
        try:
            parse_ocp_version(text)
        except ValueError as exc:
            raise UsageError(f"--ocp-version: {exc}") from None


def _done(checklist: "Checklist", output: ChecklistOutput, strict: bool) -> None:
    from agent.output.checklist import render

    sys.stdout.write(render(checklist, output.value, strict=strict))
    raise typer.Exit(options.failed_exit(checklist.failed(strict)))


@app.command("pre-upgrade")
def pre_upgrade(
    to_image: Annotated[
        str,
        typer.Option("--to-image", help="The release to update to, by digest (REF@sha256:...)."),
    ],
    namespace: NamespaceOption = None,
    reports_namespace: options.ReportsNamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    as_user: options.AsOption = None,
    as_group: options.AsGroupOption = None,
    as_uid: options.AsUidOption = None,
    wait: Annotated[
        str,
        typer.Option(
            "--wait", help="How long to wait for every node's check of the release (0: look once)."
        ),
    ] = "10m",
    poll: Annotated[str, typer.Option("--poll", help="How often to look for new reports.")] = "15s",
    max_age: Annotated[
        str,
        typer.Option(
            "--max-age",
            help="When the release check cannot be requested: reports this recent count.",
        ),
    ] = "6h",
    ocp_version: OcpVersionOption = None,
    payload_repository: Annotated[
        Optional[str],
        typer.Option(
            "--payload-repository",
            help="Where the release's component images live (default: known for "
            "quay.io/openshift-release-dev/ocp-release and quay.io/openshift/okd).",
        ),
    ] = None,
    strict: StrictOption = False,
    output: ChecklistOutputOption = ChecklistOutput.table,
) -> None:
    """Before the update: item by item, pass/warn/fail with evidence and the fixing command.

    Read-only except for one write: the data key checklist.txt of the checks ConfigMap
    (server-side apply, field manager mirror-agent-checklist), which asks every node to
    check the release image now.
    """
    from agent.checklist import PreUpgradeOptions
    from agent.checklist import pre_upgrade as run_pre_upgrade
    from agent.checklist.target import parse_target
    from agent.commands.checklist import connect
    from agent.kube.contract import CHECKLIST_KEY, CHECKS_CONFIGMAP

    parse_target(to_image, payload_repository)  # bad input: exit 2 before any request
    _check_ocp_version(ocp_version)
    checklist_options = PreUpgradeOptions(
        to_image=to_image,
        payload_repository=payload_repository,
        ocp_version=ocp_version,
        wait=options.duration("--wait", wait, zero_ok=True),
        poll=options.duration("--poll", poll),  # 0 would poll the API server in a busy loop
        max_age=options.duration("--max-age", max_age, zero_ok=True),
    )
    cluster = connect(kubeconfig, context, namespace, as_user, as_group, as_uid, reports_namespace)
    if checklist_options.wait > 0:  # --wait 0 requests no check: it writes nothing
        sys.stderr.write(
            f"note: writing data key {CHECKLIST_KEY} of configmap {cluster.namespace}/"
            f"{CHECKS_CONFIGMAP} (the only change this command makes)\n"
        )
    bar = progress.ReportsBar()
    try:
        checklist = run_pre_upgrade(
            cluster,
            checklist_options,
            now=progress.now,
            clock=progress.clock,
            sleep=progress.sleep,
            progress=bar,
            agent_version=__version__,
        )
    finally:
        bar.clear()
    _done(checklist, output, strict)


@app.command("post-upgrade")
def post_upgrade(
    to_image: Annotated[
        Optional[str],
        typer.Option("--to-image", help="The release updated to; ClusterVersion must desire it."),
    ] = None,
    namespace: NamespaceOption = None,
    reports_namespace: options.ReportsNamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    as_user: options.AsOption = None,
    as_group: options.AsGroupOption = None,
    as_uid: options.AsUidOption = None,
    ocp_version: OcpVersionOption = None,
    strict: StrictOption = False,
    output: ChecklistOutputOption = ChecklistOutput.table,
) -> None:
    """After the update: the release completed, pools and nodes, fresh passing reports,
    health checks resumed, release checks removed. Read-only."""
    from agent.checklist import PostUpgradeOptions
    from agent.checklist import post_upgrade as run_post_upgrade
    from agent.checklist.target import parse_target
    from agent.commands.checklist import connect

    if to_image:
        parse_target(to_image)
    _check_ocp_version(ocp_version)
    cluster = connect(kubeconfig, context, namespace, as_user, as_group, as_uid, reports_namespace)
    checklist = run_post_upgrade(
        cluster,
        PostUpgradeOptions(to_image=to_image, ocp_version=ocp_version),
        now=progress.now,
        agent_version=__version__,
    )
    _done(checklist, output, strict)


@app.command("cleanup")
def cleanup(
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    as_user: options.AsOption = None,
    as_group: options.AsGroupOption = None,
    as_uid: options.AsUidOption = None,
) -> None:
    """Remove the release checks pre-upgrade added (the checks ConfigMap's checklist.txt)."""
    from agent.checklist import cleanup as run_cleanup
    from agent.commands.checklist import connect

    cluster = connect(
        kubeconfig, context, namespace, as_user, as_group, as_uid, reads_reports=False
    )
    change = run_cleanup(cluster)
    if change is None:
        sys.stdout.write("nothing to remove: no release checks from agent checklist\n")
        return
    sys.stdout.write(change.text() + "\n")
    for line in change.lines:
        sys.stdout.write(f"  {line}\n")
    if change.error:
        raise typer.Exit(ExitCode.VERIFICATION_FAILED)
