"""Test doubles of the node for the commands: a runner that replays recorded podman logs,
host roots with the fixtures' registries.conf, and the commands with fixed times."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from agent import registries
from agent.commands.analyze import analyze_log
from agent.commands.check import CheckOptions, run_check
from agent.node.settings import NodeSettings
from agent.process import CommandResult
from agent.reference import ImageReference
from agent.registries.model import Compat
from agent.report import CheckReport
from tests.support.data import FIXTURES, require

LOGS = require(FIXTURES) / "podman-4.3"
D = "sha256:6d9d24274a885ae757f53f7950337d94ebd4b3dfce1a3ba48b218624fa5e72aa"
SRC = f"127.0.0.1:5101/src/hello@{D}"


def result(
    stderr: str = "", exit_code: Optional[int] = 0, *, timed_out: bool = False, stdout: str = ""
) -> CommandResult:
    return CommandResult(("podman",), exit_code, stdout, stderr, timed_out, 0.5)


class FakeRunner:
    """Stands in for NodeRunner: canned results per reference, calls recorded."""

    def __init__(self, pulls: dict[str, Any], *, version: Optional[str] = "4.3.1") -> None:
        self.pulls = pulls
        self.version = version
        self.calls: list[tuple[str, str, Optional[str]]] = []
        self.store_images: Any = []  # containers/storage images.json records, or an error
        self.temp_files: list[str] = []
        self.version_asked = 0
        # a node without a pull secret or proxy: nothing of its own to redact
        self.settings = NodeSettings(host_root=Path("/"), auth_file=None)

    def podman_version(self) -> Optional[str]:
        self.version_asked += 1
        return self.version

    def _answer(self, method: str, reference: str, conf: Optional[str] = None) -> CommandResult:
        self.calls.append((method, reference, conf))
        answer = self.pulls[reference]
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    def pull(self, reference: ImageReference, *, on_stderr_line: Any = None) -> CommandResult:
        answer = self._answer("pull", str(reference))
        if on_stderr_line:
            for line in answer.stderr.splitlines():
                on_stderr_line(line)
        return answer

    def inspect_manifest(
        self,
        reference: ImageReference,
        *,
        registries_conf: Optional[str] = None,
        on_stderr_line: Any = None,
    ) -> CommandResult:
        return self._answer("manifest", str(reference), registries_conf)

    def node_store_images(self) -> list[dict[str, Any]]:
        if isinstance(self.store_images, BaseException):
            raise self.store_images
        return self.store_images  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def node_temp_file(self, content: str) -> Iterator[str]:
        self.temp_files.append(content)
        yield "/var/tmp/mirror-agent-probe.conf"


def host_from(tmp_path: Path, registries_conf: str) -> Path:
    """A host root whose registries.conf is ``registries_conf``."""
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text(registries_conf)
    return root


def host_with(tmp_path: Path, conf: str) -> Path:
    root = tmp_path / "host"
    (root / "etc/containers").mkdir(parents=True)
    shutil.copy(LOGS / "registries" / f"{conf}.conf", root / "etc/containers/registries.conf")
    return root


def check(runner: FakeRunner, root: Path, options: CheckOptions, **kwargs: Any) -> CheckReport:
    def load(compat: Compat) -> registries.LoadedHost:
        return registries.load(root, compat=compat)

    return run_check(
        runner,
        load,
        options,
        node="node-1",
        checked_at="2026-11-25T10:00:00Z",  # type: ignore[arg-type]
        agent_version="0.1.0",
        storage="scratch",
        **kwargs,
    )


def analyze(
    loaded: registries.LoadedHost,
    text: str,
    *,
    source: str,
    image: Optional[str] = None,
    exit_code: Optional[int] = None,
) -> CheckReport:
    """``agent analyze`` as the tests run it (fixed time and agent version)."""
    return analyze_log(
        loaded,
        text,
        source=source,
        image=image,
        exit_code=exit_code,
        checked_at="now",
        agent_version="0",
    )


def fixture(name: str) -> str:
    return (LOGS / f"{name}.log").read_text()


def crio_journal(*messages: str) -> str:
    """CRI-O journal lines (short-iso, as journalctl prints them), one second apart."""
    return "\n".join(
        f'Nov 25 10:00:{n:02} node-1 crio[1234]: time="2026-11-25T10:00:{n:02}Z" level=info '
        f'msg="{msg}"'
        for n, msg in enumerate(messages)
    )
