"""The ``agent`` application: its commands, and ``main``, where every error becomes a
message and an exit code (:class:`agent.errors.ExitCode`), never a traceback."""

import atexit
import contextlib
import os
import sys
import traceback
from typing import Annotated, NoReturn, Optional

import typer

from agent import __version__
from agent.cli import checklist, cluster, daemon, node, plan
from agent.errors import AgentError, ExitCode

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Verify that image pulls on this node resolve through the configured registry mirrors.",
)
app.command()(node.explain)
app.command()(node.config)
app.command()(node.check)
app.command()(node.analyze)
app.command()(cluster.collect)
app.command()(cluster.recheck)
app.command()(daemon.run)
app.command()(daemon.health)
app.add_typer(checklist.app, name="checklist")
app.command("plan")(plan.plan)

_verbose = False


def _show_version(wanted: bool) -> None:
    if wanted:
        sys.stdout.write(f"mirror-agent {__version__}\n")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _global(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of internal errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    global _verbose
    _verbose = verbose


def _permission_refused(error: PermissionError) -> str:
    from agent.output.text import terminal_safe

    where = f": {terminal_safe(str(error.filename))}" if error.filename else ""
    return (
        f"error: permission denied{where}\n"
        "hint: the agent reads the node's files and runs podman as root (oc debug node/X, "
        "or the DaemonSet's privileged pod)\n"
    )


def _program_name() -> str:
    """``agent``, or ``kubectl mirror-agent`` when run as the kubectl/oc plugin (the
    executable ``kubectl-mirror_agent`` on PATH), so usage lines read as typed."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    return "kubectl mirror-agent" if invoked.startswith("kubectl-") else "agent"


def _cluster_flags_after_command(argv: Optional[list[str]]) -> list[str]:
    """``-n``, ``--context``, ``--kubeconfig`` before the subcommand, as kubectl users
    type them (``kubectl mirror-agent -n x collect``), go to the command that takes them."""
    from agent.cli.global_flags import move_cluster_flags

    args = sys.argv[1:] if argv is None else argv
    return move_cluster_flags(typer.main.get_command(app), args)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: every error becomes a message and an exit code, never a traceback."""
    try:
        # Standalone mode turns click's usage errors into exit code 2 with usage text, and
        # Ctrl-C into 130.
        app(args=_cluster_flags_after_command(argv), prog_name=_program_name())
    except SystemExit as done:
        code = done.code
        if code is None:
            return int(ExitCode.OK)
        return int(code) if isinstance(code, int) else int(ExitCode.BAD_INPUT)
    except AgentError as error:
        from agent.output.text import error_text  # only when output is made

        sys.stderr.write(error_text(error, error.hint) + "\n")
        return int(error.exit_code)
    except PermissionError as error:  # the node's files, or the scratch folder, as non-root
        sys.stderr.write(_permission_refused(error))
        return int(ExitCode.ENVIRONMENT)
    except Exception as error:  # a clear message beats a traceback on a node
        sys.stderr.write(f"internal error: {error!r}\n")
        if _verbose:
            traceback.print_exc()
        else:
            sys.stderr.write("run with --verbose for the traceback\n")
        return int(ExitCode.INTERNAL)
    return int(ExitCode.OK)


def run() -> NoReturn:
    """The ``agent`` console script: :func:`main`, then leave at once.

    When ``main`` returns, the agent's own cleanups are done (scratch stores removed,
    commands stopped); the atexit handlers still run (private files of credentials are
    removed there). What is skipped is the interpreter tearing down its modules one by one,
    10-40 ms of every run that nothing needs.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (agent check | head): nothing more to say
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
