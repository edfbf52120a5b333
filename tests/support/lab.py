"""A throwaway local lab of registries and images for integration tests and demos.

The lab runs only on loopback and only under the working directory it is given. It
composes one module per concern:

* :mod:`tests.support.registries`: ``docker-registry serve`` processes on
  ``127.0.0.1:<free port>`` (plain HTTP, filesystem storage, a log file each) and
  listeners that never answer;
* :mod:`tests.support.images`: one-layer images built with ``podman import`` from random
  bytes (every build has its own digests), pushed, copied and inspected;
* :mod:`tests.support.namespaces`: the container sandbox: every podman and skopeo call
  runs in a private mount namespace (``unshare --mount``) in which ``/etc/containers``,
  ``/var/lib/containers`` and ``/run/containers`` are lab folders, with a clean
  environment and a private podman storage;
* :mod:`tests.support.processes`: every process the lab starts is tracked by PID and
  stopped (terminate, wait, kill, with its whole process tree) when the lab is closed, at
  interpreter exit as a safety net, and (Linux parent-death signal) when the Python
  process that started it dies.

Typical use::

    with Lab(tmp_path) as lab:
        upstream = lab.start_registry("upstream")
        mirror = lab.start_registry("mirror")
        image = lab.build_image("team/app:1", size_bytes=4096)
        digest = lab.push(image, upstream, "team/app")
        assert lab.push(image, mirror, "mirror/team/app") == digest
        host_root = lab.write_host_root({"registry": [...]})
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import subprocess
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import tomlkit

from tests.support.images import (
    Image,
    copy_args,
    image_id_from_import,
    import_args,
    inspect_raw_args,
    layer_tarball,
    manifest_digest,
    push_args,
    read_digest,
    reference_separator,
    split_tag,
)
from tests.support.namespaces import SANDBOXED_HOST_DIRS, ContainerSandbox
from tests.support.processes import LabError, ProcessTracker
from tests.support.registries import (
    DEFAULT_START_TIMEOUT,
    HangingServer,
    Registry,
    check_registry_name,
    new_registry,
    start_hanging_server,
    start_on_free_port,
)

__all__ = [
    "SANDBOXED_HOST_DIRS",
    "HangingServer",
    "Image",
    "Lab",
    "LabError",
    "RegistriesConf",
    "Registry",
    "manifest_digest",
]

_DEFAULT_COMMAND_TIMEOUT = 180.0

_LIVE_LABS: weakref.WeakSet[Lab] = weakref.WeakSet()


def _close_live_labs() -> None:
    for lab in list(_LIVE_LABS):
        with contextlib.suppress(Exception):
            lab.close()


atexit.register(_close_live_labs)

RegistriesConf = Union[str, Mapping[str, Any]]


class Lab:
    """Local registries, images and host roots under ``workdir``; a context manager.

    Everything started is stopped on ``__exit__`` / :meth:`close` even when the body
    raised, and at interpreter exit as a safety net. Files are left in ``workdir``
    (registry logs, storage) for post-mortem; removing ``workdir`` is the caller's job.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).absolute()
        self._sandbox = ContainerSandbox(self.workdir / "sandbox", self.workdir / "podman")
        self._processes = ProcessTracker(self.workdir, self._check_open)
        self._registries: dict[str, Registry] = {}
        self._hanging: list[HangingServer] = []
        # image ID -> (digest, registry, repository) of its first push: what push() keeps
        # the digest of (public: a test may claim an earlier push to provoke a repair)
        self.first_pushes: dict[str, tuple[str, Registry, str]] = {}
        self._host_roots = 0
        self._opened = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Check the tools, lay out the working directory and the container sandbox."""
        if self._opened:
            return
        missing = [
            tool
            for tool in ("docker-registry", "podman", "skopeo", "unshare", "mount")
            if shutil.which(tool) is None
        ]
        if missing:
            raise LabError(f"missing tools: {', '.join(missing)} (run scripts/setup.sh)")
        self._sandbox.prepare()
        self._opened = True
        _LIVE_LABS.add(self)
        probe = self.run_sandboxed(["true"], check=False, timeout=30)
        if probe.returncode != 0:
            self.close()
            raise LabError(
                "cannot enter a private mount namespace (the lab needs root: "
                f"unshare --mount and mount --bind): {probe.stderr.strip()}"
            )

    def close(self) -> None:
        """Stop every process the lab started (idempotent)."""
        with self._processes.lock:
            self._closed = True
            for server in self._hanging:
                server.stop()
            for registry in self._registries.values():
                registry.stop()
            self._processes.stop_all()
            self._sandbox.remove_own_runroot()
        _LIVE_LABS.discard(self)

    @property
    def started_pids(self) -> list[int]:
        """PIDs of every process the lab has started so far, stopped ones included."""
        return self._processes.started_pids

    def alive_pids(self) -> list[int]:
        """PIDs of processes the lab started that are still alive (PID reuse aware)."""
        return self._processes.alive_pids()

    def _check_open(self) -> None:
        if not self._opened:
            raise LabError("the lab is not open: use it as a context manager")
        if self._closed:
            raise LabError("the lab is closed")

    # -- the container sandbox (tests.support.namespaces) --------------------------------

    @property
    def sandbox(self) -> Path:
        """The folder whose subfolders podman and skopeo see as the host's."""
        return self._sandbox.directory

    @property
    def podman_dir(self) -> Path:
        """The lab's private podman storage (``root``, ``tmp``, ``networks``)."""
        return self._sandbox.podman_dir

    @property
    def runroot(self) -> Path:
        return self._sandbox.runroot

    @property
    def policy_path(self) -> Path:
        """Signature policy (insecureAcceptAnything) used for every podman/skopeo call."""
        return self._sandbox.policy_path

    @property
    def registries_conf_path(self) -> Path:
        """The registries.conf podman/skopeo see: no search registries, no mirrors."""
        return self._sandbox.registries_conf_path

    @property
    def storage_conf_path(self) -> Path:
        return self._sandbox.storage_conf_path

    @property
    def containers_conf_path(self) -> Path:
        return self._sandbox.containers_conf_path

    @property
    def auth_file_path(self) -> Path:
        return self._sandbox.auth_file_path

    @property
    def cert_dir(self) -> Path:
        """An empty certificate directory, so no host certs.d is consulted."""
        return self._sandbox.cert_dir

    def tool_env(self) -> dict[str, str]:
        """A clean environment for podman/skopeo: only PATH and LANG come from outside."""
        return self._sandbox.tool_env()

    def sandbox_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped so it runs inside the lab's container sandbox."""
        return self._sandbox.wrap(argv)

    def run_sandboxed(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = _DEFAULT_COMMAND_TIMEOUT,
        env: Optional[Mapping[str, str]] = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the sandbox with :meth:`tool_env` (plus ``env``); capture text.

        LabError on timeout (the process tree is killed) and, with ``check``, on a
        non-zero exit; the message carries the command and its output.
        """
        full_env = self.tool_env()
        full_env.update(env or {})
        return self._processes.run(
            argv, launch=self.sandbox_argv(argv), env=full_env, timeout=timeout, check=check
        )

    def podman(
        self, *args: str, check: bool = True, timeout: float = _DEFAULT_COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """``podman <lab storage flags> args...`` in the sandbox."""
        return self.run_sandboxed(self.podman_argv(*args), check=check, timeout=timeout)

    def podman_argv(self, *args: str) -> list[str]:
        """``podman <lab storage flags> args...``, for callers that wrap it themselves."""
        return self._sandbox.podman_argv(*args)

    def skopeo(
        self, *args: str, check: bool = True, timeout: float = _DEFAULT_COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """``skopeo --policy <lab policy> args...`` in the sandbox."""
        return self.run_sandboxed(self.skopeo_argv(*args), check=check, timeout=timeout)

    def skopeo_argv(self, *args: str) -> list[str]:
        """``skopeo --policy <lab policy> args...``, for callers that wrap it themselves."""
        return self._sandbox.skopeo_argv(*args)

    # -- registries (tests.support.registries) -------------------------------------------

    def start_registry(
        self,
        name: str,
        *,
        htpasswd_user: Optional[str] = None,
        htpasswd_password: Optional[str] = None,
        timeout: float = DEFAULT_START_TIMEOUT,
    ) -> Registry:
        """Start a plain-HTTP ``docker-registry`` on a free loopback port.

        With ``htpasswd_user``/``htpasswd_password`` the registry requires HTTP basic
        auth (bcrypt htpasswd file made with apache2-utils' ``htpasswd -B``).
        """
        self._check_open()
        check_registry_name(name)
        if name in self._registries:
            raise LabError(f"registry {name!r} already exists in this lab")
        if (htpasswd_user is None) != (htpasswd_password is None):
            raise LabError("give both htpasswd_user and htpasswd_password, or neither")
        registry = new_registry(
            self.workdir / "registries" / name,
            name,
            self._processes,
            htpasswd_user=htpasswd_user,
            htpasswd_password=htpasswd_password,
        )
        self._registries[name] = registry  # stopped on close even if it fails to start
        start_on_free_port(registry, self._processes, timeout=timeout)
        return registry

    @property
    def registries(self) -> dict[str, Registry]:
        return dict(self._registries)

    def start_hanging_server(self, timeout: float = 15.0) -> HangingServer:
        """A loopback TCP listener that accepts connections and never answers."""
        self._check_open()
        server = start_hanging_server(self._processes, timeout)
        self._hanging.append(server)
        return server

    # -- images (tests.support.images) ---------------------------------------------------

    def build_image(self, tag_name: str, size_bytes: int = 1024) -> Image:
        """Build ``localhost/<tag_name>`` in lab storage from a one-layer tarball.

        The layer holds ``/payload.bin`` (``size_bytes`` random bytes) and ``/lab-marker``
        (a unique text), so two builds never share a digest.
        """
        self._check_open()
        repository, tag = split_tag(tag_name)
        if size_bytes < 0:
            raise LabError("size_bytes must be >= 0")
        marker = f"mirror-agent-lab {tag_name} {uuid.uuid4()}"
        name = f"localhost/{repository}:{tag}"
        with layer_tarball(self.workdir / "images", marker, size_bytes) as tarball:
            result = self.podman(*import_args(self.policy_path, marker, tarball, name))
        return Image(
            name=name,
            repository=repository,
            tag=tag,
            image_id=image_id_from_import(result.stdout),
            marker=marker,
            size_bytes=size_bytes,
        )

    def push(
        self,
        image: Image,
        registry: Registry,
        repository: str,
        tag: Optional[str] = None,
    ) -> str:
        """Push ``image`` to ``registry.host/repository:tag``; return the manifest digest.

        The same image always gets the same digest in every registry: podman compresses
        the layer with gzip from the same uncompressed bytes, which c/image does
        deterministically (checked: identical digests across registries, repositories and
        an emptied blob info cache). Should a push ever yield another digest, the tag is
        overwritten with ``skopeo copy --preserve-digests`` from the first place the
        image was pushed to, and the result checked again.
        """
        self._check_open()
        tag = tag or image.tag
        destination = f"{registry.host}/{repository}:{tag}"
        digest_file = self._new_digest_file()
        args = push_args(self.cert_dir, self.policy_path, digest_file, registry.credentials)
        # by ID: a later build with the same tag name must not change what is pushed
        self.podman(*args, image.image_id, destination)
        digest = read_digest(digest_file)
        first = self.first_pushes.get(image.image_id)
        if first is None:
            self.first_pushes[image.image_id] = (digest, registry, repository)
            return digest
        first_digest, first_registry, first_repository = first
        if digest == first_digest:
            return digest
        copied = self.copy(
            first_registry, first_repository, first_digest, registry, repository, tag
        )
        if copied != first_digest:
            raise LabError(
                f"{image.name} pushed to {destination} as {digest}, first pushed as "
                f"{first_digest}; re-copying gave {copied}"
            )
        return copied

    def copy(
        self,
        source: Registry,
        source_repository: str,
        reference: str,
        destination: Registry,
        destination_repository: str,
        destination_tag: str,
    ) -> str:
        """Copy ``source/repo@digest`` (or ``:tag``) to ``destination/repo:tag`` unchanged.

        ``skopeo copy --preserve-digests`` between registries moves the blobs and the
        manifest byte for byte, so the digest is the source's; it is returned.
        """
        self._check_open()
        separator = reference_separator(reference)
        digest_file = self._new_digest_file()
        args = copy_args(self.cert_dir, digest_file, source.credentials, destination.credentials)
        self.skopeo(
            *args,
            f"docker://{source.host}/{source_repository}{separator}{reference}",
            f"docker://{destination.host}/{destination_repository}:{destination_tag}",
        )
        return read_digest(digest_file)

    def inspect_raw(self, registry: Registry, repository: str, reference: str) -> bytes:
        """Raw manifest bytes of ``registry/repository@digest`` (or ``:tag``) via skopeo."""
        separator = reference_separator(reference)
        args = inspect_raw_args(self.cert_dir, registry.credentials)
        result = self.skopeo(*args, f"docker://{registry.host}/{repository}{separator}{reference}")
        return result.stdout.encode()

    def _new_digest_file(self) -> Path:
        digest_file = self.workdir / "digests" / f"{uuid.uuid4().hex}.txt"
        digest_file.parent.mkdir(parents=True, exist_ok=True)
        return digest_file

    # -- host roots ----------------------------------------------------------------------

    def write_host_root(
        self,
        registries_conf: RegistriesConf,
        dropins: Optional[Mapping[str, RegistriesConf]] = None,
    ) -> Path:
        """Make a fresh fake host root holding ``etc/containers/registries.conf``.

        ``registries_conf`` (and each drop-in) is written verbatim when a ``str``, as
        TOML via tomlkit when a mapping. ``dropins`` maps file names (``"50-x.conf"``)
        to contents in ``etc/containers/registries.conf.d/``, which always exists.
        (:mod:`tests.support.hostroot` makes such a root chroot-able.)
        """
        self._host_roots += 1
        root = self.workdir / "hosts" / f"host-{self._host_roots}"
        conf_dir = root / "etc" / "containers"
        dropin_dir = conf_dir / "registries.conf.d"
        dropin_dir.mkdir(parents=True)
        (conf_dir / "registries.conf").write_text(_toml_text(registries_conf))
        for file_name, content in (dropins or {}).items():
            if "/" in file_name or file_name in ("", ".", ".."):
                raise LabError(f"drop-in name {file_name!r} must be a plain file name")
            (dropin_dir / file_name).write_text(_toml_text(content))
        return root

    def __repr__(self) -> str:
        return f"Lab({str(self.workdir)!r}, registries={sorted(self._registries)})"


def _toml_text(content: RegistriesConf) -> str:
    if isinstance(content, str):
        return content
    return tomlkit.dumps(dict(content))
