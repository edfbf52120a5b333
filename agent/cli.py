"""The command line: options, calling the core, choosing a renderer, exit codes.

This is the only module that imports typer. Its annotations are evaluated when it is
imported (no ``from __future__ import annotations``): typer would otherwise evaluate every
option's annotation string at each start, ~6 ms of every ``agent check``.
"""

import json
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from agent import __version__
from agent.errors import AgentError, ConfigError, ExitCode, UsageError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Verify that image pulls on this node resolve through the configured registry mirrors.",
)


class Output(str, Enum):
    table = "table"
    json = "json"


HostRootOption = Annotated[
    Optional[Path],
    typer.Option(
        "--host-root",
        help="The node's filesystem root. Default: /host when it holds etc/containers "
        "(oc debug node, the DaemonSet), else /.",
    ),
]
RegistriesConfOption = Annotated[
    Optional[Path],
    typer.Option(
        "--registries-conf",
        help="Use this file (on the agent's own filesystem) instead of the node's main "
        "registries.conf, as CONTAINERS_REGISTRIES_CONF does for podman; drop-ins are still read.",
    ),
]
HomeOption = Annotated[
    str, typer.Option("--home", help="HOME of the user podman runs as on the node.")
]
PodmanVersionOption = Annotated[
    Optional[str],
    typer.Option(
        "--podman-version",
        help="Reproduce the registries.conf handling of this podman release where releases "
        "differ (e.g. 4.3 for containers/image < 5.24). Default: current releases.",
    ),
]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]

_verbose = False


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _load(
    host_root: Optional[Path],
    registries_conf: Optional[Path],
    home: str,
    podman_version: Optional[str],
) -> Any:
    # Imported here so that commands which do not read registries.conf start faster.
    from agent import registries
    from agent.node.paths import default_host_root
    from agent.registries.model import CURRENT, compat_for_podman

    compat = CURRENT
    if podman_version:
        try:
            compat = compat_for_podman(podman_version)
        except ValueError as exc:
            raise UsageError(f"--podman-version: {exc}") from None
    root = host_root if host_root is not None else default_host_root()
    if not root.is_dir():
        raise UsageError(f"--host-root {root}: not a directory")
    return registries.load(root, main_override=registries_conf, home=home, compat=compat)


def _load_or_report(output: Output, **options: Any) -> Any:
    try:
        return _load(**options)
    except ConfigError as error:
        if output is Output.json:
            from agent.output.registries import load_error_json  # only when output is made

            _print_json(load_error_json(error))
        raise


@app.command()
def explain(
    references: Annotated[list[str], typer.Argument(metavar="REF...", help="Image references.")],
    host_root: HostRootOption = None,
    registries_conf: RegistriesConfOption = None,
    home: HomeOption = "/root",
    podman_version: PodmanVersionOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show, for each reference, the matching entry and the ordered pull sources (no pull)."""
    loaded = _load_or_report(
        output,
        host_root=host_root,
        registries_conf=registries_conf,
        home=home,
        podman_version=podman_version,
    )
    explanations = [loaded.explain(given) for given in references]
    from agent.output.registries import explain_json, explain_table

    if output is Output.json:
        _print_json(explain_json(loaded.config, explanations))
    else:
        sys.stdout.write(explain_table(loaded.config, explanations))
    for explanation in explanations:
        if explanation.problem:
            sys.stderr.write(f"error: {explanation.given}: {explanation.problem.message}\n")
    if any(explanation.problem for explanation in explanations):
        raise typer.Exit(ExitCode.BAD_INPUT)


@app.command()
def config(
    host_root: HostRootOption = None,
    registries_conf: RegistriesConfOption = None,
    home: HomeOption = "/root",
    podman_version: PodmanVersionOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show the effective merged configuration, the files it came from and its fingerprint."""
    loaded = _load_or_report(
        output,
        host_root=host_root,
        registries_conf=registries_conf,
        home=home,
        podman_version=podman_version,
    )
    from agent.output.registries import config_json, config_table

    if output is Output.json:
        _print_json(config_json(loaded.config))
    else:
        sys.stdout.write(config_table(loaded.config))


class CheckOutput(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"


class Method(str, Enum):
    pull = "pull"
    manifest = "manifest"


class Storage(str, Enum):
    scratch = "scratch"
    node = "node"


def _utc_now() -> str:
    from agent.report import timestamp

    return timestamp()


def _node_name(root: Path) -> str:
    import os
    import socket

    if os.environ.get("NODE_NAME"):
        return os.environ["NODE_NAME"]
    try:
        name = (root / "etc" / "hostname").read_text().strip()
    except OSError:
        name = ""
    return name or socket.gethostname()


class _Progress:
    """One line on stderr, rewritten in place, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.active = sys.stderr.isatty()
        self.width = 0

    def __call__(self, image: str, state: str) -> None:
        if not self.active:
            return
        text = f"{image}: {state}"[:160]
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.active and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def _exit_code(verdict: str, strict: bool) -> int:
    if verdict in ("fail", "error") or (strict and verdict == "warn"):
        return int(ExitCode.VERIFICATION_FAILED)
    return int(ExitCode.OK)


@app.command()
def check(
    image: Annotated[
        Optional[list[str]],
        typer.Option("--image", "-i", help="Image to check (repeatable); pull by digest."),
    ] = None,
    images_file: Annotated[
        Optional[Path],
        typer.Option("--images-file", help="File with one image reference per line (# comments)."),
    ] = None,
    auto: Annotated[
        bool,
        typer.Option("--auto", help="Pick, per mirrored entry, an image the node holds by digest."),
    ] = False,
    host_root: HostRootOption = None,
    method: Annotated[
        Method,
        typer.Option("--method", help="pull: real podman pull; manifest: skopeo inspect --raw."),
    ] = Method.pull,
    storage: Annotated[
        Storage,
        typer.Option("--storage", help="scratch: throwaway store; node: the node's own store."),
    ] = Storage.scratch,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds allowed per pull.")
    ] = 300.0,
    probe_mirrors: Annotated[
        bool,
        typer.Option("--probe-mirrors", help="Also ask every mirror directly for each image."),
    ] = False,
    history: Annotated[
        bool,
        typer.Option("--history", help="Summarise CRI-O's recent pulls instead of pulling."),
    ] = False,
    since: Annotated[str, typer.Option("--since", help="With --history: journal window.")] = "-24h",
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")] = False,
    min_free: Annotated[
        float, typer.Option("--min-free-gib", help="Refuse to pull below this free space.")
    ] = 2.0,
    storage_driver: Annotated[
        Optional[str],
        typer.Option(
            "--storage-driver", help="Storage driver of the scratch store (default: podman's)."
        ),
    ] = None,
    output: Annotated[
        CheckOutput, typer.Option("--output", "-o", help="table, wide or json.")
    ] = CheckOutput.table,
) -> None:
    """Pull images as the node's container runtime would; judge mirror order and fallback."""
    from agent.node.paths import default_host_root
    from agent.node.settings import NodeSettings
    from agent.pull.runner import NodeRunner

    root = host_root if host_root is not None else default_host_root()
    if not root.is_dir():
        raise UsageError(f"--host-root {root}: not a directory")
    wanted = list(image or [])
    manifest_images: tuple[str, ...] = ()  # "# method=manifest" lines of --images-file
    if images_file is not None:
        try:
            text = sys.stdin.read() if str(images_file) == "-" else images_file.read_text()
        except OSError as exc:
            raise UsageError(f"--images-file {images_file}: {exc.strerror or exc}") from None
        from agent.check import read_image_lines

        lines = read_image_lines(text, str(images_file))
        wanted += [name for name, _ in lines if name not in wanted]
        manifest_images = tuple(name for name, line_method in lines if line_method == "manifest")
    _refuse_option_like(wanted)
    settings = NodeSettings.detect(root)
    runner = NodeRunner(
        settings,
        storage=storage.value,
        timeout=timeout,
        min_free_bytes=int(min_free * 1024**3),
        storage_driver=storage_driver,
    )
    if history:
        raise typer.Exit(_exit_code(_history(runner, root, since, output), strict))
    if not wanted and not auto:
        raise UsageError("give --image REF, --images-file FILE or --auto")
    podman_version = runner.podman_version_soon()  # runs while the rest is imported
    from agent import registries
    from agent.check import CheckOptions, run_check

    progress = _Progress()
    try:
        report = run_check(
            runner,
            lambda compat: registries.load(root, compat=compat),
            CheckOptions(
                tuple(wanted), auto, method.value, probe_mirrors, manifest_images=manifest_images
            ),
            node=_node_name(root),
            checked_at=_utc_now(),
            agent_version=__version__,
            storage=storage.value,
            progress=progress,
            podman_version_of=podman_version,
        )
    finally:
        progress.clear()
    if output is CheckOutput.json:
        _print_json(report.to_json())
    else:
        from agent.output.check import check_table

        sys.stdout.write(check_table(report, wide=output is CheckOutput.wide))
    interrupted = report.extra.get("interrupted")
    if interrupted:
        raise typer.Exit(143 if interrupted == "SIGTERM" else 130)
    raise typer.Exit(_exit_code(report.verdict, strict))


def _refuse_option_like(images: list[str]) -> None:
    """``--image --strict`` would otherwise check an image named "--strict" and lose the flag."""
    for value in images:
        if value.startswith("-"):
            raise UsageError(
                f"--image {value!r}: an image reference cannot start with '-'; "
                "it looks like an option given without an image before it"
            )


def _history(runner: Any, root: Path, since: str, output: CheckOutput) -> str:
    """``check --history``: prints the summary; returns the worst verdict of the pulls."""
    from agent import registries
    from agent.check import summarise_history

    result = runner.crio_journal(since)
    if result.exit_code != 0:
        raise AgentError(
            f"cannot read CRI-O's journal: {result.stderr.strip() or result.exit_code}",
            hint="--history needs journalctl on the node (run inside oc debug node/X)",
        )
    loaded = registries.load(root)
    entries = summarise_history(loaded, result.stdout)
    if output is CheckOutput.json:
        from agent.schema import HISTORY_SCHEMA_VERSION

        _print_json(
            {"schemaVersion": HISTORY_SCHEMA_VERSION, "node": _node_name(root), "history": entries}
        )
    else:
        from agent.output.check import history_table

        sys.stdout.write(history_table(entries))
    from agent.report import worst

    return worst([str(entry["verdict"]) for entry in entries])


@app.command()
def analyze(
    log_file: Annotated[
        Path, typer.Argument(metavar="LOG", help="Debug log file, or - for stdin.")
    ],
    host_root: HostRootOption = None,
    registries_conf: RegistriesConfOption = None,
    image: Annotated[
        Optional[str], typer.Option("--image", help="The image pulled, when the log omits it.")
    ] = None,
    podman_version: PodmanVersionOption = None,
    exit_code: Annotated[
        Optional[int], typer.Option("--exit-code", help="The pull's exit status, if known.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")] = False,
    output: Annotated[
        CheckOutput, typer.Option("--output", "-o", help="table, wide or json.")
    ] = CheckOutput.table,
) -> None:
    """Judge a debug log captured elsewhere (podman, skopeo, or a CRI-O journal excerpt)."""
    from agent.check import analyze_log

    try:
        text = sys.stdin.read() if str(log_file) == "-" else log_file.read_text(errors="replace")
    except OSError as exc:
        raise UsageError(f"{log_file}: {exc.strerror or exc}") from None
    loaded = _load_or_report(
        Output.json if output is CheckOutput.json else Output.table,
        host_root=host_root,
        registries_conf=registries_conf,
        home="/root",
        podman_version=podman_version,
    )
    report = analyze_log(
        loaded,
        text,
        source=str(log_file),
        image=image,
        exit_code=exit_code,
        checked_at=_utc_now(),
        agent_version=__version__,
    )
    if output is CheckOutput.json:
        _print_json(report.to_json())
    else:
        from agent.output.check import check_table

        sys.stdout.write(check_table(report, wide=output is CheckOutput.wide))
    raise typer.Exit(_exit_code(report.verdict, strict))


class CollectOutput(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    markdown = "markdown"
    junit = "junit"


KubeconfigOption = Annotated[
    Optional[str], typer.Option("--kubeconfig", help="kubeconfig file (default: KUBECONFIG).")
]
ContextOption = Annotated[Optional[str], typer.Option("--context", help="kubeconfig context.")]
NamespaceOption = Annotated[
    Optional[str], typer.Option("--namespace", "-n", help="Namespace of the reports.")
]


def _duration(option: str, text: str, *, zero_ok: bool = False) -> float:
    from agent.collect import parse_duration

    if zero_ok and text.strip() in ("0", "0s"):
        return 0.0  # "no delay" / "look once"
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _read_json_list(path: str, what: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        document = json.loads(text)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        return [item for item in document["items"] if isinstance(item, dict)]
    if isinstance(document, dict) and document.get("kind") in ("ConfigMap", "Node"):
        return [document]
    raise UsageError(f"{path}: expected a {what} (as oc get ... -o json prints it)")


@app.command()
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
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")] = False,
    output: Annotated[
        CollectOutput, typer.Option("--output", "-o", help="table, wide, json, markdown or junit.")
    ] = CollectOutput.table,
) -> None:
    """Summarise every node's report: pass, fail, missing, stale, orphaned, drift."""
    from datetime import datetime, timedelta, timezone

    from agent.collect import summarise
    from agent.kube.contract import REPORT_SELECTOR

    age = timedelta(seconds=_duration("--max-age", max_age)) if max_age else None
    if from_file is not None:
        reports: Any = _read_json_list(from_file, "ConfigMapList")
        nodes: Any = _read_json_list(nodes_file, "NodeList") if nodes_file else None
        daemonset = None
    else:
        from agent.kube.client import ApiError, KubeClient, configmap_path, node_path
        from agent.kube.config import from_kubeconfig

        config = from_kubeconfig(kubeconfig, context)
        client = KubeClient(config)
        ns = namespace or "mirror-agent"
        try:
            daemonset = client.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/mirror-agent")
        except ApiError:
            daemonset = None  # not readable: every node is expected
        # Both stream page by page into the summary.
        reports = client.list(configmap_path(ns), label_selector=REPORT_SELECTOR)
        nodes = client.list(node_path())
    summary = summarise(
        reports, nodes, daemonset=daemonset, now=datetime.now(timezone.utc), max_age=age
    )
    from agent.output.collect import (
        collect_junit,
        collect_markdown,
        collect_table,
        write_collect_json,
    )

    if output is CollectOutput.json:
        write_collect_json(summary, sys.stdout)
    elif output is CollectOutput.markdown:
        sys.stdout.write(collect_markdown(summary))
    elif output is CollectOutput.junit:
        sys.stdout.write(collect_junit(summary))
    else:
        sys.stdout.write(collect_table(summary, wide=output is CollectOutput.wide))
    failed = not summary.ok or (strict and summary.counts["warn"] > 0)
    raise typer.Exit(int(ExitCode.VERIFICATION_FAILED if failed else ExitCode.OK))


@app.command()
def run(
    image: Annotated[
        Optional[list[str]], typer.Option("--image", "-i", help="Image to check (repeatable).")
    ] = None,
    images_file: Annotated[
        Optional[Path],
        typer.Option("--images-file", help="Mounted checks file: one reference per line."),
    ] = None,
    auto: Annotated[
        bool, typer.Option("--auto", help="Also pick images per mirrored entry.")
    ] = False,
    host_root: HostRootOption = None,
    method: Annotated[Method, typer.Option("--method")] = Method.pull,
    storage: Annotated[Storage, typer.Option("--storage")] = Storage.scratch,
    timeout: Annotated[float, typer.Option("--timeout", min=1)] = 300.0,
    interval: Annotated[str, typer.Option("--interval", help="Re-check period.")] = "6h",
    jitter: Annotated[str, typer.Option("--jitter", help="Random delay before a check.")] = "60s",
    poll: Annotated[str, typer.Option("--poll", help="How often to look for changes.")] = "30s",
    namespace: NamespaceOption = None,
    node: Annotated[
        Optional[str], typer.Option("--node", help="Node name (default: NODE_NAME).")
    ] = None,
    kubeconfig: KubeconfigOption = None,
    heartbeat_file: Annotated[
        Optional[Path], typer.Option("--heartbeat-file", help="Touched every poll (liveness).")
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    cycles: Annotated[
        Optional[int], typer.Option("--cycles", help="Stop after N checks (tests, one-shot jobs).")
    ] = None,
    storage_driver: Annotated[Optional[str], typer.Option("--storage-driver")] = None,
    min_free: Annotated[
        float, typer.Option("--min-free-gib", help="Refuse to pull below this free space.")
    ] = 2.0,
) -> None:
    """DaemonSet mode: check at start, on changes and periodically; publish ConfigMaps."""
    import os
    import time

    from agent import registries
    from agent.daemon import Agent, Publisher, RunSettings, service_namespace
    from agent.kube.client import KubeClient
    from agent.kube.config import SERVICE_ACCOUNT, from_kubeconfig, in_cluster
    from agent.kube.publish import NodeReportPublisher
    from agent.node.paths import default_host_root
    from agent.node.settings import NodeSettings
    from agent.process import Terminated, stop_signals_raise
    from agent.pull.runner import NodeRunner

    if log_format not in ("text", "json"):
        raise UsageError("--log-format: text or json")
    _refuse_option_like(list(image or []))
    root = host_root if host_root is not None else default_host_root()
    node_name = node or os.environ.get("NODE_NAME")
    if not node_name:
        raise UsageError("no node name: set NODE_NAME (downward API) or --node")
    # outside a pod, as the option's help and in_cluster's hint say: --kubeconfig or KUBECONFIG
    config = (
        from_kubeconfig(kubeconfig) if kubeconfig or os.environ.get("KUBECONFIG") else in_cluster()
    )
    ns = namespace or config.namespace or service_namespace(dict(os.environ), SERVICE_ACCOUNT)
    if not ns:
        raise UsageError("no namespace: --namespace, the service account or POD_NAMESPACE")
    send = NodeReportPublisher(KubeClient(config), namespace=ns, node_name=node_name)
    settings = RunSettings(
        node=node_name,
        namespace=ns,
        host_root=root,
        images=tuple(image or []),
        images_file=images_file,
        auto=auto,
        method=method.value,
        storage=storage.value,
        interval=_duration("--interval", interval),
        jitter=_duration("--jitter", jitter, zero_ok=True),
        poll=_duration("--poll", poll),
        heartbeat_file=heartbeat_file,
        log_format=log_format,
    )
    runner = NodeRunner(
        NodeSettings.detect(root),
        storage=storage.value,
        timeout=timeout,
        min_free_bytes=int(min_free * 1024**3),
        storage_driver=storage_driver,
    )
    agent = Agent(
        settings,
        runner=runner,
        load=lambda compat: registries.load(root, compat=compat),
        publisher=Publisher(send, clock=time.monotonic),
        agent_version=__version__,
    )

    stopped = True
    try:
        with stop_signals_raise():
            agent.run_forever(max_cycles=cycles)
        stopped = False  # ended after --cycles checks
    except Terminated:
        agent.log_line({"event": "terminated", "node": node_name})
    except KeyboardInterrupt:
        agent.log_line({"event": "interrupted", "node": node_name})
    if agent.publisher.pending is not None:
        # no error yet: the stop came while the report was being sent
        error = agent.publisher.last_error or "stopped while publishing; it may not have arrived"
        agent.log_line({"event": "unpublished", "error": error})
        if not stopped:  # a one-shot run whose report was lost must not look successful
            raise typer.Exit(int(ExitCode.NOT_PUBLISHED))


@app.command()
def health(
    heartbeat_file: Annotated[Path, typer.Option("--heartbeat-file")],
    max_age: Annotated[str, typer.Option("--max-age")] = "15m",
) -> None:
    """Liveness: exit 0 when ``agent run`` touched its heartbeat file recently."""
    from agent.daemon import heartbeat_age

    limit = _duration("--max-age", max_age)
    age = heartbeat_age(heartbeat_file)
    if age is None or age > limit:
        state = "missing" if age is None else f"{age:.0f}s old"
        sys.stderr.write(f"unhealthy: heartbeat {heartbeat_file} is {state}\n")
        raise typer.Exit(1)


@app.callback()
def _global(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of internal errors.")
    ] = False,
) -> None:
    global _verbose
    _verbose = verbose


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: every error becomes a message and an exit code, never a traceback."""
    try:
        # Standalone mode turns click's usage errors into exit code 2 with usage text.
        app(args=argv, prog_name="agent")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else int(ExitCode.BAD_INPUT))
    except AgentError as error:
        from agent.output.text import error_text

        sys.stderr.write(error_text(error, error.hint) + "\n")
        return int(error.exit_code)
    except Exception as error:  # a clear message beats a traceback on a node
        sys.stderr.write(f"internal error: {error!r}\n")
        if _verbose:
            traceback.print_exc()
        else:
            sys.stderr.write("run with --verbose for the traceback\n")
        return 70
    return 0


# --- agent checklist: before and after oc adm upgrade --to-image -----------------------------

checklist_app = typer.Typer(
    no_args_is_help=True,
    help="The disconnected-update checklist, before and after oc adm upgrade --to-image.",
)
app.add_typer(checklist_app, name="checklist")


class ChecklistOutput(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    junit = "junit"


ChecklistOutputOption = Annotated[
    ChecklistOutput,
    typer.Option("--output", "-o", help="table, markdown (change tickets), json or junit."),
]
ChecklistNamespaceOption = Annotated[
    Optional[str],
    typer.Option("--namespace", "-n", help="mirror-agent's namespace (default mirror-agent)."),
]
OcpVersionOption = Annotated[
    Optional[str],
    typer.Option(
        "--ocp-version",
        help="Render mirror rules as the MCO of this OpenShift version does (default: from "
        "ClusterVersion).",
    ),
]
ChecklistStrictOption = Annotated[
    bool, typer.Option("--strict", help="Warnings fail too (exit 1).")
]


class _Waiting:
    """The clock and sleep of pre-upgrade's wait for node reports (tests replace them)."""

    @staticmethod
    def clock() -> float:
        import time

        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        import time

        time.sleep(seconds)


class _ReportsBar:
    """``n of N nodes reported`` on stderr, redrawn in place, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.active = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\rwaiting for node reports [{bar}] {done} of {total} nodes reported")
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * 90 + "\r")
            sys.stderr.flush()


def _checklist_cluster(
    kubeconfig: Optional[str], context: Optional[str], namespace: Optional[str]
) -> Any:
    from agent.checklist.fetch import KubeCluster
    from agent.kube.client import KubeClient
    from agent.kube.config import from_kubeconfig

    return KubeCluster(
        KubeClient(from_kubeconfig(kubeconfig, context)), namespace or "mirror-agent"
    )


def _checklist_version(text: Optional[str]) -> None:
    from agent.checklist.mirrors import parse_ocp_version

    if text:
        try:
            parse_ocp_version(text)
        except ValueError as exc:
            raise UsageError(f"--ocp-version: {exc}") from None


def _checklist_done(checklist: Any, output: ChecklistOutput, strict: bool) -> None:
    from agent.output.checklist import render

    sys.stdout.write(render(checklist, output.value, strict=strict))
    raise typer.Exit(int(ExitCode.VERIFICATION_FAILED if checklist.failed(strict) else ExitCode.OK))


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


@checklist_app.command("pre-upgrade")
def checklist_pre_upgrade(
    to_image: Annotated[
        str,
        typer.Option("--to-image", help="The release to update to, by digest (REF@sha256:...)."),
    ],
    namespace: ChecklistNamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
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
    strict: ChecklistStrictOption = False,
    output: ChecklistOutputOption = ChecklistOutput.table,
) -> None:
    """Before the update: item by item, pass/warn/fail with evidence and the fixing command.

    Read-only except for one write: the data key checklist.txt of the checks ConfigMap
    (server-side apply, field manager mirror-agent-checklist), which asks every node to
    check the release image now.
    """
    from agent.checklist import PreUpgradeOptions, pre_upgrade
    from agent.checklist.target import parse_target
    from agent.kube.contract import CHECKLIST_KEY, CHECKS_CONFIGMAP

    parse_target(to_image, payload_repository)  # bad input: exit 2 before any request
    _checklist_version(ocp_version)
    options = PreUpgradeOptions(
        to_image=to_image,
        payload_repository=payload_repository,
        ocp_version=ocp_version,
        wait=_duration("--wait", wait, zero_ok=True),
        poll=_duration("--poll", poll),  # 0 would poll the API server in a busy loop
        max_age=_duration("--max-age", max_age, zero_ok=True),
    )
    cluster = _checklist_cluster(kubeconfig, context, namespace)
    sys.stderr.write(
        f"note: writing data key {CHECKLIST_KEY} of configmap {cluster.namespace}/"
        f"{CHECKS_CONFIGMAP} (the only change this command makes)\n"
    )
    bar = _ReportsBar()
    try:
        checklist = pre_upgrade(
            cluster,
            options,
            now=_now,
            clock=_Waiting.clock,
            sleep=_Waiting.sleep,
            progress=bar,
            agent_version=__version__,
        )
    finally:
        bar.clear()
    _checklist_done(checklist, output, strict)


@checklist_app.command("post-upgrade")
def checklist_post_upgrade(
    to_image: Annotated[
        Optional[str],
        typer.Option("--to-image", help="The release updated to; ClusterVersion must desire it."),
    ] = None,
    namespace: ChecklistNamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    ocp_version: OcpVersionOption = None,
    strict: ChecklistStrictOption = False,
    output: ChecklistOutputOption = ChecklistOutput.table,
) -> None:
    """After the update: the release completed, pools and nodes, fresh passing reports,
    health checks resumed, release checks removed. Read-only."""
    from agent.checklist import PostUpgradeOptions, post_upgrade
    from agent.checklist.target import parse_target

    if to_image:
        parse_target(to_image)
    _checklist_version(ocp_version)
    cluster = _checklist_cluster(kubeconfig, context, namespace)
    checklist = post_upgrade(
        cluster,
        PostUpgradeOptions(to_image=to_image, ocp_version=ocp_version),
        now=_now,
        agent_version=__version__,
    )
    _checklist_done(checklist, output, strict)


@checklist_app.command("cleanup")
def checklist_cleanup(
    namespace: ChecklistNamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Remove the release checks pre-upgrade added (the checks ConfigMap's checklist.txt)."""
    from agent.checklist import cleanup

    change = cleanup(_checklist_cluster(kubeconfig, context, namespace))
    if change is None:
        sys.stdout.write("nothing to remove: no release checks from agent checklist\n")
        return
    sys.stdout.write(change.text() + "\n")
    for line in change.lines:
        sys.stdout.write(f"  {line}\n")
    if change.error:
        raise typer.Exit(int(ExitCode.VERIFICATION_FAILED))


# --- agent plan (agent/cli_plan.py) -------------------------------------------------------
from agent.cli_plan import plan as _plan  # noqa: E402

app.command("plan")(_plan)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
