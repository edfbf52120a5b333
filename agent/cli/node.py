"""Commands about this node: ``explain`` and ``config`` (registries.conf resolution, no
pull), ``check`` (real pulls, judged) and ``analyze`` (a log captured elsewhere, judged)."""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from agent import __version__
from agent.cli import options, progress
from agent.cli.options import (
    AutoOption,
    CheckOutput,
    CheckOutputOption,
    HomeOption,
    HostRootOption,
    ImagesFileOption,
    ImagesOption,
    Method,
    MethodOption,
    MinFreeOption,
    Output,
    OutputOption,
    ParallelOption,
    PodmanVersionOption,
    RegistriesConfOption,
    Storage,
    StorageDriverOption,
    StorageOption,
    StrictOption,
    TimeoutOption,
)
from agent.errors import ConfigError, ExitCode, UsageError

if TYPE_CHECKING:
    from agent.pull.runner import NodeRunner
    from agent.registries import LoadedHost


def _load(
    host_root: Optional[Path],
    registries_conf: Optional[Path],
    home: str,
    podman_version: Optional[str],
    output: Output,
) -> "LoadedHost":
    """The node's registries.conf as the options say; a load error is also printed as JSON
    with ``-o json``. Imported here so that commands which do not read it start faster."""
    from agent import registries
    from agent.registries.model import CURRENT, compat_for_podman

    compat = CURRENT
    if podman_version:
        try:
            compat = compat_for_podman(podman_version)
        except ValueError as exc:
            raise UsageError(f"--podman-version: {exc}") from None
    root = options.host_root(host_root)
    try:
        return registries.load(root, main_override=registries_conf, home=home, compat=compat)
    except ConfigError as error:
        if output is Output.json:
            from agent.output.registries import load_error_json  # only when output is made

            options.write_json(load_error_json(error))
        raise


def explain(
    references: Annotated[list[str], typer.Argument(metavar="REF...", help="Image references.")],
    host_root: HostRootOption = None,
    registries_conf: RegistriesConfOption = None,
    home: HomeOption = "/root",
    podman_version: PodmanVersionOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show, for each reference, the matching entry and the ordered pull sources (no pull)."""
    loaded = _load(host_root, registries_conf, home, podman_version, output)
    from agent.output.registries import explain_json, explain_table  # only when output is made

    explanations = [loaded.explain(given) for given in references]
    if output is Output.json:
        options.write_json(explain_json(loaded.config, explanations))
    else:
        sys.stdout.write(explain_table(loaded.config, explanations))
    from agent.output.text import terminal_safe

    for explanation in explanations:
        if explanation.problem:
            problem = f"error: {explanation.given}: {explanation.problem.message}\n"
            sys.stderr.write(terminal_safe(problem))
    if any(explanation.problem for explanation in explanations):
        raise typer.Exit(ExitCode.BAD_INPUT)


def config(
    host_root: HostRootOption = None,
    registries_conf: RegistriesConfOption = None,
    home: HomeOption = "/root",
    podman_version: PodmanVersionOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show the effective merged configuration, the files it came from and its fingerprint."""
    loaded = _load(host_root, registries_conf, home, podman_version, output)
    from agent.output.registries import config_json, config_table  # only when output is made

    if output is Output.json:
        options.write_json(config_json(loaded.config))
    else:
        sys.stdout.write(config_table(loaded.config))


def check(
    image: ImagesOption = None,
    images_file: ImagesFileOption = None,
    auto: AutoOption = False,
    host_root: HostRootOption = None,
    method: MethodOption = Method.pull,
    storage: StorageOption = Storage.scratch,
    timeout: TimeoutOption = 300.0,
    probe_mirrors: Annotated[
        bool,
        typer.Option("--probe-mirrors", help="Also ask every mirror directly for each image."),
    ] = False,
    history: Annotated[
        bool,
        typer.Option("--history", help="Summarise CRI-O's recent pulls instead of pulling."),
    ] = False,
    since: Annotated[str, typer.Option("--since", help="With --history: journal window.")] = "-24h",
    strict: StrictOption = False,
    min_free: MinFreeOption = 2.0,
    storage_driver: StorageDriverOption = None,
    parallel: ParallelOption = None,
    output: CheckOutputOption = CheckOutput.table,
    max_images: options.MaxImagesOption = options.MAX_IMAGES_DEFAULT,
    covered_only: options.CoveredOnlyOption = False,
) -> None:
    """Pull images as the node's container runtime would; judge mirror order and fallback."""
    root = options.host_root(host_root, privileged=True)
    wanted = list(image or [])
    manifest_images: tuple[str, ...] = ()  # "# method=manifest" lines of --images-file
    pull_images: tuple[str, ...] = ()  # "# method=pull" lines
    if images_file is not None:
        from agent.commands.check import read_checks_file

        lines = read_checks_file(images_file)
        wanted += [name for name, _ in lines if name not in wanted]
        manifest_images = tuple(name for name, line_method in lines if line_method == "manifest")
        pull_images = tuple(name for name, line_method in lines if line_method == "pull")
    options.refuse_option_like(wanted)
    runner = options.node_runner(
        root,
        storage=storage,
        timeout=timeout,
        min_free_gib=min_free,
        storage_driver=storage_driver,
    )
    if history:
        _history(runner, root, since, strict, output)
    if not wanted and not auto:
        raise UsageError("give --image REF, --images-file FILE or --auto")
    podman_version = runner.podman_version_soon()  # runs while the rest is imported
    from agent.commands.check import CheckOptions, check_node
    from agent.output.check import check_table

    shown = progress.ImageProgress()
    try:
        report = check_node(
            runner,
            root,
            CheckOptions(
                tuple(wanted),
                auto,
                method.value,
                probe_mirrors,
                manifest_images=manifest_images,
                pull_images=pull_images,
                max_images=max_images,
                covered_only=covered_only,
                parallel=parallel,
            ),
            storage=storage.value,
            progress=shown,
            podman_version_of=podman_version,
        )
    finally:
        shown.clear()
    if output is CheckOutput.json:
        options.write_json(report.to_json())
    else:
        sys.stdout.write(check_table(report, wide=output is CheckOutput.wide, strict=strict))
    interrupted = report.extra.get("interrupted")
    if interrupted:
        raise typer.Exit(ExitCode.TERMINATED if interrupted == "SIGTERM" else ExitCode.INTERRUPTED)
    raise typer.Exit(options.verdict_exit(report.verdict, strict))


def _history(
    runner: "NodeRunner", root: Path, since: str, strict: bool, output: CheckOutput
) -> NoReturn:
    """``check --history``: prints the summary; exits with the worst verdict of the pulls."""
    from agent.commands.history import read_history
    from agent.output.check import history_table  # only when output is made
    from agent.pull.log.redact import Redactor

    summary = read_history(runner, root, since)
    # the node's own credentials, wherever they appear
    redact = Redactor.of(runner.settings.secret_values())
    if output is CheckOutput.json:
        sys.stdout.write(redact(json.dumps(summary.to_json(), indent=2)) + "\n")
    else:
        sys.stdout.write(
            redact(history_table(summary.entries, verdict=summary.verdict, strict=strict))
        )
    raise typer.Exit(options.verdict_exit(summary.verdict, strict))


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
    strict: StrictOption = False,
    output: CheckOutputOption = CheckOutput.table,
) -> None:
    """Judge a debug log captured elsewhere (podman, skopeo, or a CRI-O journal excerpt)."""
    from agent.commands.analyze import analyze_log
    from agent.safe_read import LOG_FILE_LIMIT, read_text_or_stdin

    text = read_text_or_stdin(log_file, limit=LOG_FILE_LIMIT, lenient=True)
    loaded = _load(
        host_root,
        registries_conf,
        "/root",
        podman_version,
        Output.json if output is CheckOutput.json else Output.table,
    )
    from agent.commands.results import secure_report
    from agent.output.check import check_table  # only when output is made
    from agent.pull.log.redact import redact
    from agent.report import timestamp

    report = analyze_log(
        loaded,
        text,
        source=str(log_file),
        image=image,
        exit_code=exit_code,
        checked_at=timestamp(),
        agent_version=__version__,
        # nothing named, and not a node's root mounted at /host: this machine's own files
        config_of_this_machine=host_root is None
        and registries_conf is None
        and options.host_root(None) == Path("/"),
    )
    report = secure_report(report, redact)  # a log from elsewhere: patterns, trimmed errors
    if output is CheckOutput.json:
        options.write_json(report.to_json())
    else:
        sys.stdout.write(check_table(report, wide=output is CheckOutput.wide, strict=strict))
    raise typer.Exit(options.verdict_exit(report.verdict, strict))
