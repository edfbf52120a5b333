"""The lab's network servers: ``docker-registry serve`` (distribution v2) processes on
``127.0.0.1:<free port>`` (plain HTTP, filesystem storage, a log file each, optional
htpasswd basic auth), and TCP listeners that accept connections and never answer.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.support.processes import LabError, ProcessTracker, stop_process_tree, tail

DEFAULT_START_TIMEOUT = 30.0
_PORT_ATTEMPTS = 5

# A TCP listener that accepts connections and never answers; prints its port when ready.
_HANGING_SERVER_PY = """\
import socket, sys
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(128)
print(server.getsockname()[1], flush=True)
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http_status(port: int, path: str = "/v2/", timeout: float = 1.0) -> Optional[int]:
    """Status of ``GET http://127.0.0.1:port/path``, or None when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


class _PortInUse(LabError):
    pass


# --------------------------------------------------------------------------------------
# registries


@dataclass(eq=False)
class Registry:
    """A ``docker-registry`` the lab runs on ``127.0.0.1:port``; survives stop()/start()."""

    name: str
    port: int
    directory: Path
    config_path: Path
    storage_dir: Path
    log_path: Path
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    _processes: Optional[ProcessTracker] = field(default=None, repr=False)
    _popen: Optional[subprocess.Popen[bytes]] = field(default=None, repr=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as used in image references and registries.conf."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def credentials(self) -> Optional[str]:
        """``user:password`` for ``--creds``, or None for an open registry."""
        if self.username is None or self.password is None:
            return None
        return f"{self.username}:{self.password}"

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int:
        """PID of the running registry process (LabError when it is stopped)."""
        if self._popen is None or self._popen.poll() is not None:
            raise LabError(f"registry {self.name!r} is not running")
        return self._popen.pid

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Start (again) on the same port with the same storage; wait until /v2/ answers."""
        if self.running:
            return
        if self._processes is None:
            raise LabError(f"registry {self.name!r} is not attached to a lab")
        _launch(self, self._processes, timeout=timeout)

    def stop(self) -> None:
        """Stop the registry process (terminate, wait, kill); storage and port are kept."""
        if self._popen is not None:
            stop_process_tree(self._popen)
            if self._processes is not None:
                self._processes.forget(self._popen)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)


def new_registry(
    directory: Path,
    name: str,
    processes: ProcessTracker,
    *,
    htpasswd_user: Optional[str] = None,
    htpasswd_password: Optional[str] = None,
) -> Registry:
    """A registry (not started yet) with its storage and htpasswd file in ``directory``."""
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    registry = Registry(
        name=name,
        port=0,
        directory=directory,
        config_path=directory / "config.yml",
        storage_dir=storage,
        log_path=directory / "registry.log",
        username=htpasswd_user,
        password=htpasswd_password,
        _processes=processes,
    )
    if htpasswd_user is not None and htpasswd_password is not None:
        _write_htpasswd(directory / "htpasswd", htpasswd_user, htpasswd_password)
    return registry


def start_on_free_port(registry: Registry, processes: ProcessTracker, *, timeout: float) -> None:
    """Start ``registry`` on a free loopback port (another one when a race took it)."""
    for attempt in range(_PORT_ATTEMPTS):
        registry.port = _free_port()
        _write_config(registry)
        try:
            _launch(registry, processes, timeout=timeout)
            return
        except _PortInUse:
            if attempt == _PORT_ATTEMPTS - 1:
                raise LabError(
                    f"registry {registry.name!r}: no free port after {_PORT_ATTEMPTS} attempts\n"
                    f"{registry.log_tail()}"
                ) from None


def _write_htpasswd(path: Path, user: str, password: str) -> None:
    if shutil.which("htpasswd") is None:
        raise LabError(
            "docker-registry needs a bcrypt htpasswd file; `htpasswd` (apache2-utils) "
            "is not installed: run scripts/setup.sh"
        )
    result = subprocess.run(
        ["htpasswd", "-n", "-b", "-B", user, password],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0 or not result.stdout.startswith(f"{user}:$2"):
        raise LabError(f"htpasswd failed: {result.stderr.strip() or result.stdout.strip()}")
    path.write_text(result.stdout.strip() + "\n")


def _write_config(registry: Registry) -> None:
    # JSON strings are valid YAML scalars: paths with any character stay safe.
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {json.dumps(str(registry.storage_dir))}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: {json.dumps(registry.host)}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
    ]
    if registry.username is not None:
        lines += [
            "auth:",
            "  htpasswd:",
            "    realm: mirror-agent-lab",
            f"    path: {json.dumps(str(registry.directory / 'htpasswd'))}",
        ]
    registry.config_path.write_text("\n".join(lines) + "\n")


def _launch(registry: Registry, processes: ProcessTracker, *, timeout: float) -> None:
    # docker-registry reads REGISTRY_* variables as config overrides: give it a clean env.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(registry.directory),
        "LANG": "C.UTF-8",
    }
    with registry.log_path.open("ab") as log:
        log.write(f"--- lab: starting on {registry.host} at {time.ctime()}\n".encode())
        log.flush()
        popen = processes.spawn(
            ["docker-registry", "serve", str(registry.config_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=registry.directory,
        )
    registry._popen = popen
    deadline = time.monotonic() + timeout
    while True:
        if popen.poll() is not None:
            processes.forget(popen)
            log_tail = registry.log_tail()
            if "address already in use" in log_tail.rpartition("--- lab: starting")[2]:
                raise _PortInUse(f"registry {registry.name!r}: {registry.host} is in use")
            raise LabError(
                f"registry {registry.name!r} exited with {popen.returncode} on start;"
                f" log {registry.log_path}:\n{log_tail}"
            )
        if _http_status(registry.port) is not None:
            return
        if time.monotonic() > deadline:
            registry.stop()
            raise LabError(
                f"registry {registry.name!r} did not answer GET {registry.url}/v2/ "
                f"within {timeout}s; log {registry.log_path}:\n{registry.log_tail()}"
            )
        time.sleep(0.05)


# --------------------------------------------------------------------------------------
# hanging servers


@dataclass(eq=False)
class HangingServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never sends a byte."""

    port: int
    _popen: subprocess.Popen[bytes] = field(repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    def stop(self) -> None:
        """Stop the listener; held connections are closed with it."""
        stop_process_tree(self._popen)


def start_hanging_server(processes: ProcessTracker, timeout: float) -> HangingServer:
    """Start a listener and wait until it prints its port."""
    popen = processes.spawn(
        [sys.executable, "-c", _HANGING_SERVER_PY, "0"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert popen.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(popen.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
    line = popen.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        stop_process_tree(popen)
        processes.forget(popen)
        stderr = popen.stderr.read().decode(errors="replace") if popen.stderr else ""
        raise LabError(f"hanging server did not start within {timeout}s: {stderr}")
    return HangingServer(port=int(line), _popen=popen)


def check_registry_name(name: str) -> None:
    """LabError unless ``name`` is usable as a folder and in messages."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise LabError(f"registry name {name!r}: use letters, digits, '.', '_', '-'")
