"""One pull or manifest inspection on the node, run as its container runtime would.

:class:`NodeRunner` runs podman and skopeo the way CRI-O pulls (docs/pull-resolution.md
§6): inside ``chroot <host root>`` when the node's filesystem is mounted elsewhere
(``/host`` in a debug pod or the DaemonSet), with the node's global pull secret and proxy
variables (:mod:`agent.node.settings`), the command lines of :mod:`agent.pull.commands`
and, by default, a throw-away store (:mod:`agent.pull.scratch`) so that a check never adds
an image to the store CRI-O uses. Every command goes through :func:`agent.process.run_command`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

from agent.errors import CheckEnvironmentError, UsageError
from agent.node.paths import SCRATCH_PARENT, HostRoot
from agent.node.settings import NodeSettings, read_graphroot, read_store_images
from agent.process import CommandNotFound, CommandResult, run_command
from agent.pull import commands
from agent.pull.room import PullsInFlight
from agent.pull.scratch import ScratchFolder, require_free_space

__all__ = ["NodeRunner"]

_STORAGE_MODES = ("scratch", "node")
_PODMAN_VERSION = re.compile(r"^podman(?:-remote)? version (\S+)\s*$", re.M)
_CHROOT_FAILED_TO_RUN = re.compile(r"^chroot: failed to run command '?(.+?)'?: (.+)$", re.M)
_CHROOT_CANNOT_CHANGE = re.compile(r"^chroot: cannot change root directory to .*$", re.M)


class NodeRunner:
    """podman, skopeo and journalctl run as the node's container runtime would.

    ``storage="scratch"`` (the default) pulls into a fresh store under the node's
    ``scratch_parent`` that is removed afterwards; ``storage="node"`` pulls into the
    node's own store, as the manual procedure does. Every command goes through
    ``run`` (:func:`run_command` unless a test fakes it).
    """

    def __init__(
        self,
        settings: NodeSettings,
        *,
        storage: str = "scratch",
        timeout: float = 300.0,
        min_free_bytes: int = 2 * 1024**3,
        scratch_parent: str = SCRATCH_PARENT,
        storage_driver: Optional[str] = None,
        run: Callable[..., CommandResult] = run_command,
    ) -> None:
        if storage not in _STORAGE_MODES:
            raise UsageError(f"storage must be 'scratch' or 'node', not {storage!r}")
        if storage_driver is not None and storage != "scratch":
            raise UsageError(
                "a storage driver can only be chosen for the scratch store, "
                "never for the node's own store"
            )
        if storage_driver is not None:
            commands.check_storage_driver(storage_driver)
        if timeout <= 0:
            raise UsageError(f"the timeout must be positive, not {timeout}")
        self.settings = settings
        self.storage = storage
        self.timeout = timeout
        self.min_free_bytes = min_free_bytes
        self.storage_driver = storage_driver
        self._run = run
        self._host = HostRoot(settings.host_root)
        self.scratch = ScratchFolder(self._host, scratch_parent)
        #: the pulls this runner has under way at once (several threads may pull)
        self.in_flight = PullsInFlight()
        #: the node's podman release once :meth:`podman_version` has read it
        self.podman_release: Optional[str] = None

    # -- building blocks -------------------------------------------------------------

    @property
    def chrooted(self) -> bool:
        return self.settings.host_root != Path("/")

    def agent_path(self, node_path: str) -> Path:
        """Where the node's ``node_path`` is on the agent's side (symlinks confined)."""
        return self._host.resolve(node_path)

    def _node_run(
        self,
        argv: Sequence[str],
        *,
        extra_env: Optional[Mapping[str, str]] = None,
        on_stderr_line: Optional[Callable[[str], None]] = None,
        timeout: Optional[float] = None,
    ) -> CommandResult:
        chroot = str(self.settings.host_root) if self.chrooted else None
        result = self._run(
            commands.on_node(argv, chroot),
            timeout=self.timeout if timeout is None else timeout,
            env=commands.node_env(self.settings.proxy_env, extra_env),
            on_stderr_line=on_stderr_line,
        )
        if self.chrooted and not result.timed_out:
            self._check_chroot(result, argv[0])
        return result

    def _check_chroot(self, result: CommandResult, executable: str) -> None:
        where = f"on the node (chroot {self.settings.host_root})"
        if result.exit_code in (126, 127):
            failed = _CHROOT_FAILED_TO_RUN.search(result.stderr)
            if failed is not None:
                raise CommandNotFound(executable, where=where, detail=failed.group(2))
        if result.exit_code == 125:
            cannot = _CHROOT_CANNOT_CHANGE.search(result.stderr)
            if cannot is not None:
                raise CheckEnvironmentError(
                    f"cannot enter the node's filesystem: {cannot.group(0)}",
                    hint="the agent must run as root in a privileged container "
                    "with the node's / mounted (hostPath)",
                )

    # -- commands --------------------------------------------------------------------

    def podman_version(self) -> Optional[str]:
        """podman's version on the node (``4.3.1``), or None if it cannot tell."""
        try:
            result = self._node_run(commands.PODMAN_VERSION_ARGV, timeout=min(self.timeout, 60.0))
        except CommandNotFound:
            return None
        match = _PODMAN_VERSION.search(result.stdout)
        if not result.ok or match is None:
            return None
        self.podman_release = match.group(1)
        return self.podman_release

    def podman_version_soon(self) -> Callable[[], Optional[str]]:
        """:meth:`podman_version` started now in a thread; calling the result waits for it.

        The check starts it first and imports and loads its own code meanwhile, so the
        ~20 ms of ``podman --version`` are not added to every check. An error it raised
        is raised by the call.
        """
        outcome: list[Any] = []

        def ask() -> None:
            try:
                outcome.append(self.podman_version())
            except BaseException as exc:  # handed to the caller, never lost in the thread
                outcome.append(exc)

        thread = threading.Thread(target=ask, name="podman --version", daemon=True)
        thread.start()

        def answer() -> Optional[str]:
            thread.join()
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            return outcome[0]  # type: ignore[no-any-return]

        return answer

    def pull(
        self, reference: str, *, on_stderr_line: Optional[Callable[[str], None]] = None
    ) -> CommandResult:
        """``podman pull --log-level=debug`` of ``reference``, as CRI-O would resolve it.

        Into the scratch store, or with ``storage="node"`` into the node's own; either way
        c/image's temporary blob files go to the scratch folder's ``tmp/`` (TMPDIR), not to
        the node's /var/tmp, where a podman killed at the timeout would leave them.
        """
        commands.check_reference(reference)
        with self.scratch_store() as scratch:
            argv = commands.podman_pull_argv(
                reference,
                scratch=scratch if self.storage == "scratch" else None,
                storage_driver=self.storage_driver,
                podman_release=self.podman_release,
                auth_file=self.settings.auth_file,
            )
            return self._node_run(
                argv, extra_env={"TMPDIR": f"{scratch}/tmp"}, on_stderr_line=on_stderr_line
            )

    def inspect_manifest(
        self,
        reference: str,
        *,
        registries_conf: Optional[str] = None,
        on_stderr_line: Optional[Callable[[str], None]] = None,
    ) -> CommandResult:
        """``skopeo --debug inspect --raw``: the manifest only, through the same mirrors.

        ``registries_conf`` is a node path of a registries.conf used instead of the
        node's main file (``--registries-conf``, and ``CONTAINERS_REGISTRIES_CONF`` for
        releases that read it); the node's drop-ins in
        ``/etc/containers/registries.conf.d`` still apply.
        """
        argv = commands.skopeo_inspect_argv(
            reference, auth_file=self.settings.auth_file, registries_conf=registries_conf
        )
        extra = {} if registries_conf is None else {"CONTAINERS_REGISTRIES_CONF": registries_conf}
        return self._node_run(argv, extra_env=extra, on_stderr_line=on_stderr_line)

    def node_store_images(self) -> list[dict[str, Any]]:
        """The image records of the node's own store (read from its files; nothing runs)."""
        return read_store_images(self._host)

    def crio_journal(self, since: str = "-24h") -> CommandResult:
        """CRI-O's journal on the node (``Trying to access`` lines are logged at info)."""
        return self._node_run(commands.crio_journal_argv(since))

    # -- room on the node ------------------------------------------------------------

    def check_free_space(self, held: int = 0) -> None:
        """CheckEnvironmentError when a filesystem the pull writes to has too little room:
        the scratch folder, and with ``storage="node"`` the node's image store. ``held``:
        bytes the pulls already in flight hold on top of this one's requirement."""
        places = [(self.scratch.agent_dir(), self.scratch.node_path)]
        if self.storage == "node":
            graphroot = read_graphroot(self._host)
            places.append((self.agent_path(graphroot), graphroot))
        for path, node_path in places:
            require_free_space(path, node_path, self.min_free_bytes + held)

    @contextlib.contextmanager
    def scratch_store(self) -> Iterator[str]:
        """A fresh scratch store (see :meth:`ScratchFolder.store`) once there is room for a
        pull beside the pulls in flight (:class:`PullsInFlight`); yields its node path."""
        with (
            self.in_flight.reserve(self.min_free_bytes, self.check_free_space),
            self.scratch.store() as node_dir,
        ):
            yield node_dir

    def node_temp_file(
        self, content: str, *, suffix: str = ".conf"
    ) -> contextlib.AbstractContextManager[str]:
        """A file holding ``content`` in the scratch folder; yields its node path (for
        ``inspect_manifest(registries_conf=...)``); removed afterwards."""
        return self.scratch.temp_file(content, suffix=suffix)
