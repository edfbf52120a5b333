"""Shared fixtures: the real-container-config guard, the session lab, the integration marker."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tests.support.lab import Lab

# --------------------------------------------------------------------------------------
# guard: no test may read or write the machine's real container configuration or state

GUARDED_PREFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "/etc/containers",
            "/var/lib/containers",
            "/run/containers",
            "/root/.config/containers",
            os.path.join(os.path.expanduser("~"), ".config", "containers"),
        ]
    )
)

# Audit events that name a path: event -> ((index of a path, index of its dir_fd), ...),
# as CPython documents their arguments. os.symlink is checked where the link is made only.
_AuditPaths = tuple[tuple[int, Optional[int]], ...]
_ONE: _AuditPaths = ((0, None),)
_AUDITED: dict[str, _AuditPaths] = {
    "open": _ONE,
    "os.listdir": _ONE,
    "os.scandir": _ONE,
    "os.chdir": _ONE,
    "os.truncate": _ONE,
    "os.listxattr": _ONE,
    "os.getxattr": _ONE,
    "os.setxattr": _ONE,
    "os.removexattr": _ONE,
    "os.mkdir": ((0, 2),),
    "os.rmdir": ((0, 1),),
    "os.remove": ((0, 1),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "shutil.rmtree": ((0, 1),),
    "os.symlink": ((1, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.replace": ((0, 2), (1, 3)),
    "os.link": ((0, 2), (1, 3)),
    "shutil.copyfile": ((0, None), (1, None)),
    "shutil.copymode": ((0, None), (1, None)),
    "shutil.copystat": ((0, None), (1, None)),
    "shutil.move": ((0, None), (1, None)),
}


class RealConfigGuard:
    """Makes any access to :data:`GUARDED_PREFIXES` from this process raise RuntimeError.

    Covers ``open`` and the ``os``/``shutil`` operations that raise audit events
    (``sys.addaudithook``, installed once per process) plus ``os.stat``, ``os.lstat``
    and ``os.access``, which raise none and are wrapped while a test runs (``Path.exists``
    and ``os.path.isfile`` go through them). Paths are made absolute against the
    current directory and also checked with symlinks resolved. Subprocesses are not
    covered. Every violation is also recorded, so a test that swallows the error still
    fails at teardown.
    """

    def __init__(self) -> None:
        self.active = False
        self.violations: list[str] = []
        self._installed = False
        self._local = threading.local()

    def install(self) -> None:
        if not self._installed:
            sys.addaudithook(self._audit)
            self._installed = True

    # -- checks ----------------------------------------------------------------------

    def check(self, operation: str, path: Any, dir_fd: Optional[int] = None) -> None:
        """Raise RuntimeError if ``path`` is in a guarded tree (no-op when inactive)."""
        if not self.active or getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            hit = self._guarded(path, dir_fd)
        finally:
            self._local.busy = False
        if hit is not None:
            prefix, resolved = hit
            message = (
                f"test touched the real {prefix}: {operation}({path!r}) -> {resolved}; "
                "use a lab host root (tests/support/lab.py Lab.write_host_root) instead"
            )
            self.violations.append(message)
            raise RuntimeError(message)

    @staticmethod
    def _guarded(path: Any, dir_fd: Optional[int]) -> Optional[tuple[str, str]]:
        if path is None or isinstance(path, int):
            return None
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:
            return None
        if not os.path.isabs(text):
            if dir_fd is not None:
                return None  # relative to an open directory: cannot tell cheaply
            text = os.path.join(os.getcwd(), text)
        candidates = [os.path.normpath(text)]
        with contextlib.suppress(OSError, ValueError):
            candidates.append(os.path.realpath(text))
        for candidate in candidates:
            for prefix in GUARDED_PREFIXES:
                if candidate == prefix or candidate.startswith(prefix + os.sep):
                    return prefix, candidate
        return None

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        for path_index, dir_fd_index in _AUDITED.get(event, ()):
            if path_index >= len(args):
                continue
            dir_fd = None
            if dir_fd_index is not None and dir_fd_index < len(args):
                candidate = args[dir_fd_index]
                dir_fd = candidate if isinstance(candidate, int) and candidate >= 0 else None
            self.check(event, args[path_index], dir_fd)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` (os.stat and friends) with a check of its path argument."""

        @functools.wraps(function)
        def checked(path: Any, *args: Any, **kwargs: Any) -> Any:
            self.check(name, path, kwargs.get("dir_fd"))
            return function(path, *args, **kwargs)

        return checked

    # -- for tests of the guard itself -----------------------------------------------

    @contextlib.contextmanager
    def expect_violation(self) -> Iterator[None]:
        """Assert the block trips the guard; forget that violation afterwards."""
        before = len(self.violations)
        with pytest.raises(RuntimeError, match="test touched the real"):
            yield
        assert len(self.violations) > before
        del self.violations[before:]


_GUARD = RealConfigGuard()
_GUARD.install()


@pytest.fixture(autouse=True)
def _forbid_real_container_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealConfigGuard]:
    """Fail the test if it reads or writes the machine's real container config/state."""
    for name in ("stat", "lstat", "access"):
        monkeypatch.setattr(os, name, _GUARD.wrap(f"os.{name}", getattr(os, name)))
    accessor = getattr(__import__("pathlib"), "_NormalAccessor", None)
    if accessor is not None:  # Python < 3.11 binds os.stat into pathlib's accessor
        for name in ("stat", "lstat"):
            monkeypatch.setattr(accessor, name, staticmethod(getattr(os, name)), raising=False)
    _GUARD.violations.clear()
    _GUARD.active = True
    try:
        yield _GUARD
    finally:
        _GUARD.active = False
    if _GUARD.violations:
        found = "\n".join(_GUARD.violations)
        _GUARD.violations.clear()
        pytest.fail(f"the test touched the machine's real container configuration:\n{found}")


@pytest.fixture
def real_config_guard(_forbid_real_container_config: RealConfigGuard) -> RealConfigGuard:
    """The active guard, for tests that check it (see ``expect_violation``)."""
    return _forbid_real_container_config


# --------------------------------------------------------------------------------------
# the lab and the integration marker

_INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One :class:`tests.support.lab.Lab` for the session (registries persist across tests)."""
    with Lab(tmp_path_factory.mktemp("lab")) as session_lab:
        yield session_lab


def pytest_sessionstart(session: Any) -> None:
    """Tests of Ctrl-C handling need Python's own SIGINT handler, which Python does not
    install when the suite is started with SIGINT ignored (a background job, nohup, some
    CI runners)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
