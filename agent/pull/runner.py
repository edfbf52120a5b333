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
from typing import Any, Callable, Optional, Union

from agent.errors import CheckEnvironmentError, UsageError
from agent.node.paths import SCRATCH_PARENT, HostRoot
from agent.node.settings import NodeSettings, read_graphroot, read_store_images
from agent.process import CommandNotFound, CommandResult, run_command
from agent.pull import commands
from agent.pull.manifest import ImageSize, PlatformManifest, manifest_size, node_platform
from agent.pull.room import PullsInFlight
from agent.pull.scratch import NodeDiskFull, ScratchFolder, free_bytes, require_free_space
from agent.reference import ImageReference, ReferenceError

__all__ = ["NodeRunner"]

_STORAGE_MODES = ("scratch", "node")
_PODMAN_VERSION = re.compile(r"^podman(?:-remote)? version (\S+)\s*$", re.M)
_CHROOT_FAILED_TO_RUN = re.compile(r"^chroot: failed to run command '?(.+?)'?: (.+)$", re.M)
_CHROOT_CANNOT_CHANGE = re.compile(r"^chroot: cannot change root directory to .*$", re.M)
#: ENOSPC as Go and c/storage word it in podman's log.
_NO_SPACE = re.compile(r"no space left on device", re.I)
#: A pull needs about this many times the compressed size of the image on the node's disk:
#: the downloaded blob (in TMPDIR) and the extracted layer, commonly 2-3 times larger.
SIZE_FACTOR = 3
#: The fastest one pull is taken to fill the node's disk (bytes/s), above what a local
#: NVMe disk writes and near what the page cache takes: far above the reserve the watch
#: may look less often (every 100 ms at most), close to it every 10 ms. The pulls in
#: flight share the disk: the watch takes them all to write at this rate.
DISK_FILL_RATE = 8 * 1024**3
#: The manifest fetched for the estimate gets at most this long (a mirror that hangs is
#: the pull's to report, with its own timeout).
_SIZE_TIMEOUT = 30.0


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
        size_check: bool = False,
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
        #: before a pull, compare the image's size (its manifest) with the room left
        self.size_check = size_check
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
        **guards: Any,
    ) -> CommandResult:
        chroot = str(self.settings.host_root) if self.chrooted else None
        result = self._run(
            commands.on_node(argv, chroot),
            timeout=self.timeout if timeout is None else timeout,
            env=commands.node_env(self.settings.proxy_env, extra_env),
            on_stderr_line=on_stderr_line,
            **guards,  # watch, keep_fds: for pulls only
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
        outcome: list[Union[Optional[str], BaseException]] = []

        def ask() -> None:
            try:
                outcome.append(self.podman_version())
            except BaseException as exc:  # handed to the caller, never lost in the thread
                outcome.append(exc)

        thread = threading.Thread(target=ask, name="podman --version", daemon=True)
        thread.start()

        def answer() -> Optional[str]:
            thread.join()
            answered = outcome[0]
            if isinstance(answered, BaseException):
                raise answered
            return answered

        return answer

    def pull(
        self, reference: ImageReference, *, on_stderr_line: Optional[Callable[[str], None]] = None
    ) -> CommandResult:
        """``podman pull --log-level=debug`` of ``reference``, as CRI-O would resolve it.

        Into the scratch store, or with ``storage="node"`` into the node's own; either way
        c/image's temporary blob files go to the scratch folder's ``tmp/`` (TMPDIR), not to
        the node's /var/tmp, where a podman killed at the timeout would leave them.
        """
        size = self.image_size(reference) if self.size_check else None
        with self.scratch_store(size) as scratch:
            argv = commands.podman_pull_argv(
                reference,
                scratch=scratch if self.storage == "scratch" else None,
                storage_driver=self.storage_driver,
                podman_release=self.podman_release,
                auth_file=self.settings.auth_file,
            )
            lock = self.scratch.lock_fd
            watch = self._disk_watch()
            env = {"TMPDIR": f"{scratch}/tmp"}
            if self.storage == "scratch":
                conf = f"{scratch}/containers.conf"
                self.agent_path(conf).write_text(commands.scratch_containers_conf(scratch))
                env["CONTAINERS_CONF"] = conf
            result = self._node_run(
                argv,
                extra_env=env,
                on_stderr_line=on_stderr_line,
                # the node's disk watched while podman writes; the store's lock held by
                # podman too, so that no sweep removes the store while it runs
                watch=watch,
                keep_fds=(lock,) if lock is not None else (),
            )
            # A pull that ended between two looks may still have gone below the reserve:
            # one more look, so that the verdict does not depend on timing.
            watch()
            if not result.ok and _NO_SPACE.search(result.stderr):
                raise NodeDiskFull(
                    "the pull ran out of space on the node (no space left on device): the "
                    "node's disk, not the mirror",
                    hint="free space on the node or raise --min-free-gib",
                )
            return result

    def inspect_manifest(
        self,
        reference: ImageReference,
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

    def _write_places(self) -> list[tuple[Path, str]]:
        """(agent path, node path) of the filesystems a pull writes to: the scratch folder,
        and with ``storage="node"`` the node's image store."""
        places = [(self.scratch.agent_dir(), self.scratch.node_path)]
        if self.storage == "node":
            graphroot = read_graphroot(self._host)
            places.append((self.agent_path(graphroot), graphroot))
        return places

    def check_free_space(self, held: int = 0) -> None:
        """NodeDiskFull (a CheckEnvironmentError) when a filesystem the pull writes to has
        less than the reserve (``min_free_bytes``) free, plus ``held``: the bytes the pulls
        already in flight hold (:class:`PullsInFlight`)."""
        for path, node_path in self._write_places():
            require_free_space(path, node_path, self.min_free_bytes + held)

    def image_size(self, reference: ImageReference) -> Optional[ImageSize]:
        """The image's download size from its manifest, fetched the way the pull will
        fetch it (skopeo inspect --raw through the node's mirror rules, with its
        credentials); for an index, the node's platform's manifest. None when unknown."""
        timeout = min(self.timeout, _SIZE_TIMEOUT)
        target = reference
        for _ in range(2):  # the manifest, then the platform's if it was an index
            try:
                result = self._node_run(
                    commands.skopeo_inspect_argv(target, auth_file=self.settings.auth_file),
                    timeout=timeout,
                )
            except (CommandNotFound, CheckEnvironmentError):
                return None  # no skopeo on the node: the pull is not refused for it
            if not result.ok:
                return None
            found = manifest_size(result.stdout, node_platform())
            if not isinstance(found, PlatformManifest):
                return found
            try:
                target = ImageReference(reference.domain, reference.path, digest=found.digest)
            except ReferenceError:
                return None  # the index names no valid digest: skopeo would refuse it too
        return None

    def check_room_for(self, reference: ImageReference, held: int = 0) -> None:
        """NodeDiskFull before anything is written when the image, by its manifest, would
        take the filesystems a pull writes to below the reserve. Nothing is decided when
        the size cannot be known (the watch during the pull still guards the disk)."""
        self._check_size(self.image_size(reference), held)

    def _check_size(self, size: Optional[ImageSize], held: int) -> None:
        """:meth:`check_room_for` of a size already known; ``held``: the bytes the pulls
        already in flight hold, which they will fill while this one runs."""
        if size is None:
            return
        needed = size.download * SIZE_FACTOR
        for path, node_path in self._write_places():
            if not path.exists():
                continue
            try:
                room = free_bytes(path) - self.min_free_bytes - held
            except OSError:
                continue
            if needed > room:
                beside = f", beside the {held} bytes the pulls in flight hold" if held else ""
                raise NodeDiskFull(
                    f"not pulled: the image needs about {needed} bytes on the node "
                    f"({SIZE_FACTOR} x its {size.download} bytes to download, by its "
                    f"manifest), {node_path} has {max(room, 0)} bytes free above the "
                    f"reserve of {self.min_free_bytes} bytes (--min-free-gib){beside}",
                    hint="free space on the node, or check this image by manifest "
                    "(# method=manifest, --method manifest)",
                )

    def _disk_watch(self) -> Callable[[], Optional[float]]:
        """Called while a pull runs: NodeDiskFull as soon as a filesystem it writes to falls
        below the reserve (the pull is then stopped and its store removed). Returns how
        long the disk, written at DISK_FILL_RATE, takes to reach the reserve: the time
        before the next look is needed, with every pull in flight writing at that rate
        (run_command looks at least every 100 ms)."""
        places = [(path, node) for path, node in self._write_places() if path.exists()]
        reserve = self.min_free_bytes

        def watch() -> Optional[float]:
            headroom: Optional[int] = None
            for path, node_path in places:
                try:
                    free = free_bytes(path)
                except OSError:
                    continue
                headroom = free - reserve if headroom is None else min(headroom, free - reserve)
                if free < reserve:
                    raise NodeDiskFull(
                        f"the pull took {node_path} on the node down to {free} bytes free, "
                        f"below the reserve of {reserve} bytes (--min-free-gib): it was "
                        "stopped and its store removed",
                        hint="the image does not fit on this node's disk with the reserve "
                        "kept; free space or check it by manifest (--method manifest)",
                    )
            if headroom is None:
                return None
            return headroom / (DISK_FILL_RATE * max(1, self.in_flight.count))

        return watch

    @contextlib.contextmanager
    def scratch_store(self, size: Optional[ImageSize] = None) -> Iterator[str]:
        """A fresh scratch store (see :meth:`ScratchFolder.store`) once there is room for a
        pull beside the pulls in flight (:class:`PullsInFlight`); yields its node path.

        ``size``: the image's size by its manifest, when known. The pull then holds its
        estimate (SIZE_FACTOR x the download) while it runs, else the reserve's amount.
        """
        amount = self.min_free_bytes if size is None else size.download * SIZE_FACTOR

        def room(held: int) -> None:
            self._check_size(size, held)
            self.check_free_space(held)

        with self.in_flight.reserve(amount, room), self.scratch.store() as node_dir:
            yield node_dir

    def node_temp_file(
        self, content: str, *, suffix: str = ".conf"
    ) -> contextlib.AbstractContextManager[str]:
        """A file holding ``content`` in the scratch folder; yields its node path (for
        ``inspect_manifest(registries_conf=...)``); removed afterwards."""
        return self.scratch.temp_file(content, suffix=suffix)
