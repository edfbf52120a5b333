"""Options shared by several commands, each declared once, and turning option values into
what the commands need (host root, durations, the node runner, exit codes).

No ``from __future__ import annotations`` anywhere in the CLI: typer would evaluate every
option's annotation string at each start, ~6 ms of every ``agent check``.
"""

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from agent.errors import ExitCode, UsageError
from agent.vocabulary import Verdict

if TYPE_CHECKING:
    from agent.pull.runner import NodeRunner

# -- the node's files --------------------------------------------------------------------------

HostRootOption = Annotated[
    Optional[Path],
    typer.Option(
        "--host-root",
        help="The node's filesystem root. Default: /host when it holds etc/containers "
        "(oc debug node, the DaemonSet), else /.",
        # not click's check (a usage error, 2): a node root the agent may not read is a
        # refused permission (ENVIRONMENT), found when it is read
        readable=False,
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

# -- what to check and how (check, run) --------------------------------------------------------


class Method(str, Enum):
    pull = "pull"
    manifest = "manifest"


class Storage(str, Enum):
    scratch = "scratch"
    node = "node"


ImagesOption = Annotated[
    Optional[list[str]],
    typer.Option("--image", "-i", help="Image to check (repeatable); pull by digest."),
]
ImagesFileOption = Annotated[
    Optional[Path],
    typer.Option("--images-file", help="File with one image reference per line (# comments)."),
]
AutoOption = Annotated[
    bool,
    typer.Option(
        "--auto", help="Also check, per mirrored entry, an image the node holds by digest."
    ),
]
MethodOption = Annotated[
    Method,
    typer.Option("--method", help="pull: real podman pull; manifest: skopeo inspect --raw."),
]
StorageOption = Annotated[
    Storage,
    typer.Option("--storage", help="scratch: throwaway store; node: the node's own store."),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=1, help="Seconds allowed per pull.")]
MinFreeOption = Annotated[
    float, typer.Option("--min-free-gib", help="Refuse to pull below this free space.")
]
MaxImagesOption = Annotated[
    int,
    typer.Option(
        "--max-images",
        min=1,
        help="Check at most this many images (the rest is reported as not checked).",
    ),
]
#: --max-images' default (agent.commands.check.DEFAULT_MAX_IMAGES; not imported: start time)
MAX_IMAGES_DEFAULT = 300
CoveredOnlyOption = Annotated[
    bool,
    typer.Option(
        "--only-covered-images",
        help="Only check images that a [[registry]] entry of registries.conf covers; "
        "others are reported, not contacted.",
    ),
]
ParallelOption = Annotated[
    Optional[int],
    typer.Option(
        "--parallel",
        min=1,
        max=64,
        help="Images checked at once. Default: 4 pulls, 8 manifest checks.",
    ),
]
StorageDriverOption = Annotated[
    Optional[str],
    typer.Option(
        "--storage-driver", help="Storage driver of the scratch store (default: podman's)."
    ),
]

# -- the cluster (collect, run, checklist, plan) -----------------------------------------------

KubeconfigOption = Annotated[
    Optional[str], typer.Option("--kubeconfig", help="kubeconfig file (default: KUBECONFIG).")
]
ContextOption = Annotated[Optional[str], typer.Option("--context", help="kubeconfig context.")]
NamespaceOption = Annotated[
    Optional[str],
    typer.Option(
        "--namespace",
        "-n",
        help="mirror-agent's namespace (default: mirror-agent; for run: its own pod's).",
    ),
]


def _reports_namespace(given: Optional[str]) -> Optional[str]:
    """A given --reports-namespace must be a namespace name on every command that takes it,
    whether or not this invocation reads reports: UsageError (exit 2) naming it."""
    if given is not None:
        from agent.kube.contract import reports_namespace

        reports_namespace("", given)
    return given


ReportsNamespaceOption = Annotated[
    Optional[str],
    typer.Option(
        "--reports-namespace",
        help="Where the node reports live (default: mirror-agent's namespace + -reports, "
        "e.g. mirror-agent-reports).",
        callback=_reports_namespace,
    ),
]

# -- results -----------------------------------------------------------------------------------

StrictOption = Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")]


class Output(str, Enum):
    table = "table"
    json = "json"


class CheckOutput(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]
CheckOutputOption = Annotated[
    CheckOutput, typer.Option("--output", "-o", help="table, wide or json.")
]


def write_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def verdict_exit(verdict: Verdict, strict: bool) -> ExitCode:
    """A report's verdict as the process's exit code (--strict: warnings fail too)."""
    if verdict in ("fail", "error") or (strict and verdict == "warn"):
        return ExitCode.VERIFICATION_FAILED
    return ExitCode.OK


def failed_exit(failed: bool) -> ExitCode:
    return ExitCode.VERIFICATION_FAILED if failed else ExitCode.OK


# -- impersonation of the workstation commands (collect, checklist), as oc and kubectl ------

AsOption = Annotated[Optional[str], typer.Option("--as", help="Act as this user (impersonation).")]
AsGroupOption = Annotated[
    Optional[list[str]],
    typer.Option("--as-group", help="Act as a member of this group (repeatable; needs --as)."),
]
AsUidOption = Annotated[Optional[str], typer.Option("--as-uid", help="Act with this UID.")]


# -- option values ------------------------------------------------------------------------------


def host_root(option: Optional[Path], *, must_exist: bool = True, privileged: bool = False) -> Path:
    """--host-root, else /host when it holds a node's etc/containers, else /; in the image,
    the mounted node root, checked (with root and privileges when ``privileged``: the
    command runs the node's tools) before anything else happens."""
    from agent.node.preflight import node_root

    root = node_root(option, privileged=privileged)
    if must_exist and not root.is_dir():
        raise UsageError(f"--host-root {root}: not a directory")
    return root


def duration(option: str, text: str, *, zero_ok: bool = False) -> float:
    """Seconds of a duration option (30s, 15m, 6h, 2d, 1h30m); ``zero_ok``: 0 is allowed."""
    from agent.collect import parse_duration

    if zero_ok and text.strip() in ("0", "0s"):
        return 0.0  # "no delay" / "look once"
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def listen_address(option: str, text: str) -> tuple[str, int]:
    """``[HOST]:PORT`` (``:9321`` listens on every address; ``[::1]:9321`` for IPv6)."""
    host, colon, port = text.strip().rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{option} {text!r}: use [HOST]:PORT, e.g. :9321 or 127.0.0.1:9321")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "0.0.0.0", int(port)


def refuse_option_like(images: list[str]) -> None:
    """``--image --strict`` would otherwise check an image named "--strict" and lose the flag."""
    for value in images:
        if value.startswith("-"):
            raise UsageError(
                f"--image {value!r}: an image reference cannot start with '-'; "
                "it looks like an option given without an image before it"
            )


def node_runner(
    root: Path,
    *,
    storage: Storage,
    timeout: float,
    min_free_gib: float,
    storage_driver: Optional[str],
) -> "NodeRunner":
    """The runner of podman/skopeo on the node under ``root``, as --storage, --timeout,
    --min-free-gib and --storage-driver say."""
    from agent.node.settings import NodeSettings
    from agent.pull.runner import NodeRunner

    return NodeRunner(
        NodeSettings.detect(root),
        storage=storage.value,
        timeout=timeout,
        min_free_bytes=int(min_free_gib * 1024**3),
        storage_driver=storage_driver,
        size_check=True,
    )
