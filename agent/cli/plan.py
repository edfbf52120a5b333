"""``agent plan``: what applying mirror-set files will do to every image, before it is done."""

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from agent.cli.options import ReportsNamespaceOption
from agent.errors import ExitCode, UsageError
from agent.safe_read import (
    CHECKS_FILE_LIMIT,
    OBJECTS_FILE_LIMIT,
    REGISTRIES_CONF_LIMIT,
    read_stdin,
    read_text,
)


class PlanOutput(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


def _read_text(path: Path, option: str, limit: int) -> str:
    """A regular UTF-8 file of bounded size (agent.safe_read): a FIFO, a device or a
    binary file is refused with an error naming the option and the file."""
    text = read_text(path, limit=limit, shown=f"{option} {path}")
    assert text is not None  # missing_ok is False
    return text


def _object_files(path: Path) -> list[tuple[str, str]]:
    """(text, name) of what ``-f PATH`` names, as ``oc apply -f`` reads it: ``-`` is
    stdin; a directory its *.json, *.yaml and *.yml files (not recursive, sorted)."""
    if str(path) == "-":
        return [(read_stdin(limit=OBJECTS_FILE_LIMIT, shown="-f - (standard input)"), "stdin")]
    if path.is_dir():
        found = sorted(
            p for p in path.iterdir() if p.suffix in (".json", ".yaml", ".yml") and p.is_file()
        )
        if not found:
            raise UsageError(f"-f {path}: no *.yaml, *.yml or *.json file in the directory")
        return [(_read_text(p, "-f", OBJECTS_FILE_LIMIT), str(p)) for p in found]
    return [(_read_text(path, "-f", OBJECTS_FILE_LIMIT), str(path))]


def _images_file(path: Path) -> list[str]:
    images = []
    for line in _read_text(path, "--images-file", CHECKS_FILE_LIMIT).splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            images.append(text.split()[0])
    return images


def _node_config(registries_conf: Optional[Path], host_root: Optional[Path]) -> Any:
    """The node's effective configuration, and notes on the files it comes from."""
    from agent.node.paths import SYSTEM_MAIN, HostRoot
    from agent.registries.decode import decode_file
    from agent.registries.hostfiles import read_config_files
    from agent.registries.merge import merge
    from agent.registries.model import CURRENT

    if host_root is not None:
        if not host_root.is_dir():
            raise UsageError(f"--host-root {host_root}: not a directory")
        found = read_config_files(HostRoot(host_root), main_override=registries_conf)
        config = merge(
            [decode_file(f.text, f.path, drop_in=f.drop_in, compat=CURRENT) for f in found]
        )
        drop_ins = [f.path for f in found if f.drop_in]
        if any(not f.drop_in for f in found):
            return config, []
        if not drop_ins:  # an empty plan of a wrong directory would look like a real one
            raise UsageError(
                f"--host-root {host_root}: no {SYSTEM_MAIN.lstrip('/')} under {host_root}",
                hint="give the directory holding the node's / (its etc/containers)",
            )
        return config, [
            f"no {SYSTEM_MAIN.lstrip('/')} under {host_root}: the node's configuration is "
            f"its drop-ins only: {', '.join(drop_ins)}"
        ]
    assert registries_conf is not None
    text = _read_text(registries_conf, "--registries-conf", REGISTRIES_CONF_LIMIT)
    return merge([decode_file(text, str(registries_conf), drop_in=False, compat=CURRENT)]), []


def plan(
    filenames: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--filename",
            "-f",
            help="A file, a directory (its *.yaml, *.yml, *.json) or - (stdin) of "
            "ICSP/IDMS/ITMS objects to apply (repeatable).",
        ),
    ] = None,
    delete: Annotated[
        Optional[list[str]],
        typer.Option("--delete", help="Model oc delete of this object: NAME or KIND/NAME."),
    ] = None,
    image: Annotated[
        Optional[list[str]], typer.Option("--image", "-i", help="An image to plan (repeatable).")
    ] = None,
    images_file: Annotated[
        Optional[Path], typer.Option("--images-file", help="Images, one per line.")
    ] = None,
    from_reports: Annotated[
        bool,
        typer.Option("--from-reports", help="Every image the nodes' latest reports checked."),
    ] = False,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe", help="Ask each new mirror for each image's digest (skopeo, from here)."
        ),
    ] = False,
    probe_on_nodes: Annotated[
        bool,
        typer.Option(
            "--probe-on-nodes",
            help="Ask the new mirrors from every node, through the DaemonSet's checks file "
            "(writes data key plan.txt of the checks ConfigMap, removed afterwards).",
        ),
    ] = False,
    wait: Annotated[
        str, typer.Option("--wait", help="--probe-on-nodes: how long to wait for the nodes.")
    ] = "10m",
    poll: Annotated[
        str, typer.Option("--poll", help="--probe-on-nodes: how often to look for reports.")
    ] = "15s",
    probe_timeout: Annotated[
        float, typer.Option("--probe-timeout", help="Seconds per probe.")
    ] = 60.0,
    authfile: Annotated[
        Optional[str], typer.Option("--authfile", help="Credentials for --probe (auth.json).")
    ] = None,
    ocp_version: Annotated[
        Optional[str],
        typer.Option(
            "--ocp-version",
            help="Render as the MCO of this OpenShift version (default: from ClusterVersion).",
        ),
    ] = None,
    registries_conf: Annotated[
        Optional[Path],
        typer.Option(
            "--registries-conf",
            help="No API: the current state is this node registries.conf (this file only).",
        ),
    ] = None,
    host_root: Annotated[
        Optional[Path],
        typer.Option("--host-root", help="No API: the current state is this node root's files."),
    ] = None,
    namespace: Annotated[
        Optional[str],
        typer.Option("--namespace", "-n", help="mirror-agent's namespace (default mirror-agent)."),
    ] = None,
    reports_namespace: ReportsNamespaceOption = None,
    kubeconfig: Annotated[
        Optional[str], typer.Option("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG).")
    ] = None,
    context: Annotated[Optional[str], typer.Option("--context", help="kubeconfig context.")] = None,
    output: Annotated[
        PlanOutput, typer.Option("--output", "-o", help="table, markdown or json.")
    ] = PlanOutput.table,
) -> None:
    """What applying mirror-set files would do to every image, before it is applied.

    Exit 0: no change breaks a pull; 1: an image would no longer resolve or a probe found
    a missing image; 2: invalid objects (or input).
    """
    from agent.checklist.version import (
        LATEST,
        Version,
        cluster_version_of,
        parse_ocp_version,
        version_text,
    )
    from agent.plan import PlanInput, make_plan, probe_targets, with_probes
    from agent.plan.apply import parse_documents
    from agent.plan.model import ImageOrigin
    from agent.plan.node_file import node_objects, reconcile_with_files

    if not filenames and not delete:
        raise UsageError("give the objects to apply with -f FILE (or --delete NAME)")
    if probe and probe_on_nodes:
        raise UsageError("--probe and --probe-on-nodes: choose one")
    wait_seconds, poll_seconds = _duration("--wait", wait), _duration("--poll", poll)
    if probe_timeout <= 0:
        raise UsageError(f"--probe-timeout: must be positive, not {probe_timeout}")
    if ocp_version:
        try:
            parse_ocp_version(ocp_version)
        except ValueError as exc:
            raise UsageError(f"--ocp-version: {exc}") from None
    files = []
    for path in filenames or []:
        for text, name in _object_files(path):
            files += parse_documents(text, name)
    images: list[tuple[str, ImageOrigin]] = [(given, "given") for given in image or []]
    if images_file is not None:
        images += [(given, "given") for given in _images_file(images_file)]
    offline = registries_conf is not None or host_root is not None
    notes: list[str] = []
    if offline:
        if from_reports or probe_on_nodes:
            raise UsageError(
                "--from-reports and --probe-on-nodes need the cluster: not with "
                "--registries-conf or --host-root"
            )
        if delete:
            raise UsageError(
                "--delete needs the cluster's objects; with --registries-conf the node's file "
                "stands for them without names"
            )
        config, file_notes = _node_config(registries_conf, host_root)
        notes += file_notes
        version = (
            Version(parse_ocp_version(ocp_version), ocp_version, "--ocp-version")
            if ocp_version
            else Version(LATEST, "latest", "default")
        )
        if not ocp_version:
            notes.append(
                "no cluster: rendering with the rules of current MCO releases (OCP "
                f"{version_text(version.version)}); give --ocp-version"
            )
        node = reconcile_with_files(node_objects(config, version.version), files)
        notes += node.notes
        given = PlanInput(
            node.state,
            files,
            version,
            images,
            mode="registries-conf",
            node_config=config,
            notes=notes,
            policy_unknown=node.unknown_policy,
        )
    else:
        from agent.checklist.fetch import KubeCluster
        from agent.kube.client import KubeClient
        from agent.kube.config import DEFAULT_NAMESPACE, from_kubeconfig
        from agent.kube.contract import reports_namespace as reports_of
        from agent.plan.cluster import read_cluster

        ns = namespace or DEFAULT_NAMESPACE
        # only --from-reports and --probe-on-nodes read reports: a bad name is exit 2 first
        reports = reports_of(ns, reports_namespace) if from_reports or probe_on_nodes else None
        cluster: Any = KubeCluster(KubeClient(from_kubeconfig(kubeconfig, context)), ns, reports)
        state = read_cluster(cluster, from_reports=from_reports)
        version = cluster_version_of(state.cluster_version, ocp_version, post=False)
        version_notes = []
        if version.source == "unknown":
            version_notes.append(
                "the ClusterVersion gives no version: rendering with the rules of current MCO "
                f"releases (OCP {version_text(version.version)}); give --ocp-version"
            )
        images += [(given, "reports") for given in state.report_images]
        given = PlanInput(
            state.mirrors,
            files,
            version,
            images,
            deletes=delete or [],
            release_image=state.release_image,
            notes=(*state.notes, *version_notes),
            report_sources=state.report_sources,
        )
    result = make_plan(given)
    if probe_on_nodes:
        result = _probe_on_nodes(result, cluster, wait_seconds, poll_seconds)
    if not result.images:
        result = _with_note(
            result, "no image planned: give --image, --images-file or --from-reports"
        )
    if probe:
        if result.invalid:
            result = _with_note(result, "--probe skipped: the objects are invalid")
        else:
            from agent.plan.probe import run_probes

            targets, not_probed = probe_targets(result)
            probes = run_probes(targets, timeout=probe_timeout, auth_file=authfile)
            result = with_probes(result, probes, not_probed)
    from agent.output.plan import plan_json, plan_markdown, plan_table

    if output is PlanOutput.json:
        sys.stdout.write(json.dumps(plan_json(result), indent=2) + "\n")
    elif output is PlanOutput.markdown:
        sys.stdout.write(plan_markdown(result))
    else:
        sys.stdout.write(plan_table(result))
    if result.invalid:
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    if result.breaking or result.failed_probes:
        raise typer.Exit(int(ExitCode.VERIFICATION_FAILED))
    raise typer.Exit(int(ExitCode.OK))


class PlanWaiting:
    """The clock and sleep of --probe-on-nodes' wait for node reports (tests replace them)."""

    @staticmethod
    def clock() -> float:
        import time

        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        import time

        time.sleep(seconds)


def _duration(option: str, text: str) -> float:
    from agent.collect import parse_duration

    if text.strip() in ("0", "0s"):
        return 0.0
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _probe_on_nodes(result: Any, cluster: Any, wait: float, poll: float) -> Any:
    if result.invalid:
        return _with_note(result, "--probe-on-nodes skipped: the objects are invalid")
    from dataclasses import replace

    from agent.kube.contract import CHECKS_CONFIGMAP, PLAN_KEY
    from agent.plan import probe_targets, with_probes
    from agent.plan.nodes import probe_on_nodes
    from agent.report import timestamp

    targets, not_probed = probe_targets(result)
    if targets:
        sys.stderr.write(
            f"note: writing data key {PLAN_KEY} of configmap {cluster.namespace}/"
            f"{CHECKS_CONFIGMAP} (removed again when the nodes have answered)\n"
        )
    probes = probe_on_nodes(
        cluster,
        targets,
        stamp=timestamp(),
        wait=wait,
        poll=max(poll, 1.0),
        clock=PlanWaiting.clock,
        sleep=PlanWaiting.sleep,
    )
    result = with_probes(result, probes.results, not_probed)
    return replace(result, notes=(*result.notes, *probes.notes))


def _with_note(result: Any, note: str) -> Any:
    from dataclasses import replace

    return replace(result, notes=(*result.notes, note))
