"""The command line: options, calling the core, choosing a renderer, exit codes.

This is the only module that imports typer.
"""

from __future__ import annotations

import json
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from agent import render
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
    from agent.registries.hostfiles import default_host_root
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
            _print_json(render.load_error_json(error))
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
    if output is Output.json:
        _print_json(render.explain_json(loaded.config, explanations))
    else:
        sys.stdout.write(render.explain_table(loaded.config, explanations))
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
    if output is Output.json:
        _print_json(render.config_json(loaded.config))
    else:
        sys.stdout.write(render.config_table(loaded.config))


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
        sys.stderr.write(render.error_text(error, error.hint) + "\n")
        return int(error.exit_code)
    except Exception as error:  # a clear message beats a traceback on a node
        sys.stderr.write(f"internal error: {error!r}\n")
        if _verbose:
            traceback.print_exc()
        else:
            sys.stderr.write("run with --verbose for the traceback\n")
        return 70
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
