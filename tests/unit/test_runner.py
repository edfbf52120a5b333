"""agent/pull/runner.py: one pull or inspection on the node, as its runtime would run it.

NodeRunner is checked with a recording fake ``run`` and, end to end through run_command,
with pytest-subprocess; one test stops a real agent process with SIGTERM mid-pull.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

import psutil
import pytest

from agent import process
from agent.errors import CheckEnvironmentError, ExitCode, UsageError
from agent.node.paths import NODE_PATH
from agent.node.settings import NodeSettings
from agent.process import CommandNotFound, CommandResult, Terminated
from agent.pull import commands
from agent.pull.commands import podman_pull_argv, skopeo_inspect_argv
from agent.pull.runner import NodeRunner
from agent.reference import parse_normalized
from tests.unit.process_watch import no_leftover_processes, wait_gone

PY = sys.executable
REF = "quay.io/team/app@sha256:" + "a" * 64
IMAGE = parse_normalized(REF)
AUTH = "/var/lib/kubelet/config.json"
SCRATCH_ARG = re.compile(r"^/var/tmp/mirror-agent-[A-Za-z0-9_]+/(root|run)$")


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    with no_leftover_processes():
        yield


def scratch_of(argv: list[str]) -> str:
    """The node path of the scratch store in a podman command line."""
    return argv[argv.index("--root") + 1].rsplit("/", 1)[0]


class FakeRun:
    """Stands in for run_command: records calls, answers with scripted results."""

    def __init__(self, host_root: Optional[Path] = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.host_root = host_root
        self.exit_code: Optional[int] = 0
        self.stdout = ""
        self.stderr = ""
        self.timed_out = False
        self.raise_: Optional[BaseException] = None
        self.during: Optional[Callable[[list[str]], None]] = None

    def __call__(
        self,
        argv: list[str],
        *,
        timeout: float,
        env: Optional[dict[str, str]] = None,
        on_stderr_line: Optional[Callable[[str], None]] = None,
        **guards: Any,
    ) -> CommandResult:
        self.calls.append(
            {
                "argv": list(argv),
                "timeout": timeout,
                "env": env,
                "on_stderr_line": on_stderr_line,
                **guards,
            }
        )
        if self.during is not None:
            self.during(list(argv))
        if self.raise_ is not None:
            raise self.raise_
        return CommandResult(
            tuple(argv),
            None if self.timed_out else self.exit_code,
            self.stdout,
            self.stderr,
            self.timed_out,
            0.1,
        )

    @property
    def argv(self) -> list[str]:
        assert len(self.calls) == 1, self.calls
        return list(self.calls[0]["argv"])

    def scratch_on_agent_side(self, argv: list[str]) -> Path:
        """The agent-side folder of the scratch store named in a podman command line."""
        node_root = argv[argv.index("--root") + 1]
        assert self.host_root is not None
        return self.host_root / node_root.lstrip("/").rsplit("/", 1)[0]


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A minimal node filesystem (only what NodeRunner itself reads and writes)."""
    root = tmp_path / "host"
    (root / "var" / "tmp").mkdir(parents=True)
    (root / "var" / "lib" / "kubelet").mkdir(parents=True)
    (root / "etc" / "mco").mkdir(parents=True)
    return root


@pytest.fixture
def big_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plenty of free space whatever the machine has."""
    usage = SimpleNamespace(total=10**13, used=0, free=10**13, percent=0.0)
    monkeypatch.setattr(psutil, "disk_usage", lambda _path: usage)


def settings_for(
    root: Path, *, auth: bool = False, proxy: Optional[dict[str, str]] = None
) -> NodeSettings:
    return NodeSettings(host_root=root, auth_file=AUTH if auth else None, proxy_env=proxy or {})


def scratch_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "var" / "tmp").iterdir())


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path (podman 4.3 limits --runroot to 50 characters)."""
    path = Path(tempfile.mkdtemp(prefix="ma-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ======================================================================================
# pulls


@pytest.mark.usefixtures("big_disk")
def test_scratch_pull_in_chroot_with_auth_file(host_root: Path) -> None:
    fake = FakeRun(host_root)
    existed: list[bool] = []
    conf_text: list[str] = []

    def during(argv: list[str]) -> None:
        existed.append((fake.scratch_on_agent_side(argv) / "tmp").is_dir())
        conf_text.append((fake.scratch_on_agent_side(argv) / "containers.conf").read_text())

    fake.during = during
    lines: list[str] = []
    runner = NodeRunner(settings_for(host_root, auth=True), run=fake, timeout=123)
    result = runner.pull(IMAGE, on_stderr_line=lines.append)

    argv = fake.argv
    assert argv[:3] == ["chroot", str(host_root), "podman"]
    assert argv[3] == "--root" and argv[5] == "--runroot"
    assert SCRATCH_ARG.match(argv[4]) and SCRATCH_ARG.match(argv[6])
    assert argv[4].rsplit("/", 1)[0] == argv[6].rsplit("/", 1)[0]
    scratch = scratch_of(argv)
    private = ["--tmpdir", f"{scratch}/libpod", "--events-backend", "none"]
    private += ["--network-config-dir", f"{scratch}/networks"]
    assert argv[7:13] == private
    assert argv[13:] == ["pull", "--log-level=debug", "--authfile", AUTH, "--", REF]
    assert "--tls-verify=false" not in argv
    assert fake.calls[0]["timeout"] == 123
    assert fake.calls[0]["env"]["TMPDIR"] == f"{scratch_of(argv)}/tmp"
    assert fake.calls[0]["env"]["CONTAINERS_CONF"] == f"{scratch}/containers.conf"
    assert fake.calls[0]["on_stderr_line"] == lines.append
    assert existed == [True]
    assert conf_text == [commands.scratch_containers_conf(scratch)]
    assert 'lock_type = "file"' in conf_text[0]
    assert scratch_dirs(host_root) == []  # removed afterwards
    assert result.ok


@pytest.mark.parametrize("driver", [None, "vfs"])
@pytest.mark.usefixtures("big_disk")
def test_scratch_pull_without_chroot_or_auth(short_tmp: Path, driver: Optional[str]) -> None:
    fake = FakeRun(Path("/"))
    runner = NodeRunner(
        settings_for(Path("/")), run=fake, scratch_parent=str(short_tmp), storage_driver=driver
    )
    runner.pull(IMAGE)
    scratch = scratch_of(fake.argv)
    assert fake.argv == list(podman_pull_argv(IMAGE, scratch=scratch, storage_driver=driver))
    assert Path(scratch).parent == short_tmp and Path(scratch).name.startswith("mirror-agent-")
    assert list(short_tmp.iterdir()) == []


@pytest.mark.parametrize("auth", [False, True])
def test_node_storage_pull_uses_the_node_store_and_leaves_nothing(
    host_root: Path, auth: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--storage node pulls into the node's own store (no --root), checks the free space of
    that store too, and keeps c/image's temporary files in a folder removed afterwards."""
    (host_root / "var/lib/containers/storage").mkdir(parents=True)
    asked: list[str] = []
    usage = SimpleNamespace(total=10**13, used=0, free=10**13, percent=0.0)

    def disk_usage(path: str) -> SimpleNamespace:
        asked.append(path)
        return usage

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    fake = FakeRun(host_root)
    NodeRunner(settings_for(host_root, auth=auth), storage="node", run=fake).pull(IMAGE)
    expected = ["chroot", str(host_root), "podman", "pull", "--log-level=debug"]
    expected += ["--authfile", AUTH] if auth else []
    assert fake.argv == [*expected, "--", REF]
    assert re.fullmatch(r"/var/tmp/mirror-agent-[^/]+/tmp", fake.calls[0]["env"]["TMPDIR"])
    places = [str(host_root / "var/tmp"), str(host_root / "var/lib/containers/storage")]
    assert asked == places * 2  # before the pull, and the look after it (the watch's)
    assert scratch_dirs(host_root) == []


def test_not_enough_space_in_the_node_store_refuses_a_node_pull(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = host_root / "var/lib/containers/storage"
    store.mkdir(parents=True)
    full = SimpleNamespace(total=10 * 1024**3, used=10 * 1024**3 - 100, free=100, percent=99.9)
    roomy = SimpleNamespace(total=10**13, used=0, free=10**13, percent=0.0)
    monkeypatch.setattr(psutil, "disk_usage", lambda path: full if path == str(store) else roomy)
    fake = FakeRun(host_root)
    with pytest.raises(CheckEnvironmentError, match="/var/lib/containers/storage"):
        NodeRunner(settings_for(host_root), storage="node", run=fake).pull(IMAGE)
    assert fake.calls == [] and scratch_dirs(host_root) == []


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"storage": "mine"}, "storage must be"),
        ({"storage": "node", "storage_driver": "overlay"}, "scratch store"),
        ({"storage_driver": "overlay --root /"}, "storage driver name"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"scratch_parent": "var/tmp"}, "absolute node path"),
    ],
)
def test_runner_options_are_checked(
    host_root: Path, options: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(UsageError, match=complaint):
        NodeRunner(settings_for(host_root), **options)


@pytest.mark.usefixtures("big_disk")
def test_environment_has_proxy_and_nothing_from_the_agent(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "CONTAINERS_REGISTRIES_CONF": "/agent/registries.conf",
        "CONTAINERS_STORAGE_CONF": "/agent/storage.conf",
        "REGISTRY_AUTH_FILE": "/agent/auth.json",
        "KUBECONFIG": "/agent/kubeconfig",
        "HTTPS_PROXY": "http://agent-proxy:3128",
        "TMPDIR": "/agent/tmp",
    }.items():
        monkeypatch.setenv(name, value)
    proxy = {"HTTPS_PROXY": "http://proxy.example.com:3128", "no_proxy": ".cluster.local"}
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root, proxy=proxy), run=fake)
    runner.pull(IMAGE)
    runner.inspect_manifest(IMAGE)
    runner.crio_journal()
    expected = {"PATH": NODE_PATH, "LANG": "C", "HOME": "/root", **proxy}
    pull_env = fake.calls[0]["env"]
    scratch = scratch_of(fake.calls[0]["argv"])
    assert pull_env == {
        **expected,
        "TMPDIR": f"{scratch}/tmp",
        "CONTAINERS_CONF": f"{scratch}/containers.conf",  # written for the pull, then removed
    }
    for call in fake.calls[1:]:
        assert call["env"] == expected


@pytest.mark.usefixtures("big_disk")
def test_pull_end_to_end_through_run_command_with_a_popen_double(
    host_root: Path, fp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "death_signal_wrapper", lambda: None)  # argv as given
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", "/agent/registries.conf")
    monkeypatch.setenv("KUBECONFIG", "/agent/kubeconfig")
    seen: dict[str, Any] = {}
    fp.register(
        [
            "chroot",
            str(host_root),
            "podman",
            "--root",
            fp.any(min=1, max=1),
            "--runroot",
            fp.any(min=1, max=1),
            "--tmpdir",
            fp.any(min=1, max=1),
            "--events-backend",
            "none",
            "--network-config-dir",
            fp.any(min=1, max=1),
            "pull",
            "--log-level=debug",
            "--authfile",
            AUTH,
            "--",
            REF,
        ],
        stdout="0123abcd\n",
        stderr='time="t" level=debug msg="Trying to access \\"quay.io/team/app\\""\n',
        callback=lambda process: seen.update(process.kwargs or {}),
    )
    settings = settings_for(host_root, auth=True, proxy={"HTTP_PROXY": "http://p:1"})
    lines: list[str] = []
    result = NodeRunner(settings).pull(IMAGE, on_stderr_line=lines.append)
    assert result.exit_code == 0 and result.stdout == "0123abcd\n"
    assert len(lines) == 1 and "Trying to access" in lines[0]
    assert seen["env"] == {
        "PATH": NODE_PATH,
        "LANG": "C",
        "HOME": "/root",
        "HTTP_PROXY": "http://p:1",
        "TMPDIR": f"{scratch_of(list(fp.calls[0]))}/tmp",
        "CONTAINERS_CONF": f"{scratch_of(list(fp.calls[0]))}/containers.conf",
    }
    assert seen["start_new_session"] is True
    assert scratch_dirs(host_root) == []


def test_inspect_manifest_argv(host_root: Path) -> None:
    fake = FakeRun(host_root)
    NodeRunner(settings_for(host_root, auth=True), run=fake).inspect_manifest(IMAGE)
    # the argument list itself: tests/unit/test_pull_commands.py
    assert fake.argv == ["chroot", str(host_root), *skopeo_inspect_argv(IMAGE, auth_file=AUTH)]
    assert "CONTAINERS_REGISTRIES_CONF" not in fake.calls[0]["env"]
    assert scratch_dirs(host_root) == []  # skopeo needs no store


def test_inspect_manifest_with_another_registries_conf(host_root: Path) -> None:
    fake = FakeRun(Path("/"))
    runner = NodeRunner(settings_for(Path("/")), run=fake)
    runner.inspect_manifest(IMAGE, registries_conf="/var/tmp/probe.conf")
    assert fake.argv == list(skopeo_inspect_argv(IMAGE, registries_conf="/var/tmp/probe.conf"))
    assert fake.calls[0]["env"]["CONTAINERS_REGISTRIES_CONF"] == "/var/tmp/probe.conf"
    with pytest.raises(UsageError):
        runner.inspect_manifest(IMAGE, registries_conf="probe.conf")


def test_node_store_images_runs_nothing(host_root: Path) -> None:
    listing = host_root / "var/lib/containers/storage/overlay-images/images.json"
    listing.parent.mkdir(parents=True)
    listing.write_text('[{"id": "a"}]')
    fake = FakeRun(host_root)
    assert NodeRunner(settings_for(host_root), run=fake).node_store_images() == [{"id": "a"}]
    assert fake.calls == []


def test_crio_journal_runs_journalctl_on_the_node(host_root: Path) -> None:
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root), run=fake)
    runner.crio_journal()
    journal = ["journalctl", "-u", "crio", "--since", "-24h", "--no-pager", "-o", "short-iso"]
    assert fake.argv == ["chroot", str(host_root), *journal]
    with pytest.raises(UsageError):
        runner.crio_journal(since="")
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    ("stdout", "exit_code", "timed_out", "raised", "version"),
    [
        ("podman version 4.3.1\n", 0, False, None, "4.3.1"),
        ("podman version 5.4.0-dev\n", 0, False, None, "5.4.0-dev"),
        ("podman-remote version 5.0.1\n", 0, False, None, "5.0.1"),
        ("podman version 4.3.1\n", 125, False, None, None),
        ("something else\n", 0, False, None, None),
        ("podman version 4.3.1\n", 0, True, None, None),
        ("", 0, False, CommandNotFound("chroot"), None),
    ],
    ids=["4.3", "5-dev", "remote", "failed", "no-version", "timed-out", "no-chroot"],
)
def test_podman_version(
    host_root: Path,
    stdout: str,
    exit_code: int,
    timed_out: bool,
    raised: Optional[BaseException],
    version: Optional[str],
) -> None:
    fake = FakeRun(host_root)
    fake.stdout, fake.exit_code, fake.timed_out, fake.raise_ = stdout, exit_code, timed_out, raised
    runner = NodeRunner(settings_for(host_root), run=fake)
    assert runner.podman_version() == version
    assert runner.podman_release == version
    assert fake.argv == ["chroot", str(host_root), "podman", "--version"]


def test_podman_version_soon_answers_what_podman_version_would(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.stdout = "podman version 4.3.1\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    answer = runner.podman_version_soon()
    assert answer() == "4.3.1"
    assert fake.calls[0]["argv"] == ["chroot", str(host_root), "podman", "--version"]
    fake.exit_code = 125
    assert runner.podman_version_soon()() is None


def test_podman_version_soon_raises_what_the_thread_met(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 125
    fake.stderr = "chroot: cannot change root directory to '/x': Operation not permitted\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    answer = runner.podman_version_soon()
    with pytest.raises(CheckEnvironmentError, match="cannot enter the node's filesystem"):
        answer()


@pytest.mark.parametrize(("release", "retry"), [("4.3.1", False), ("5.2.0", True)])
def test_a_pull_uses_the_podman_release_it_read(
    host_root: Path, big_disk: None, release: str, retry: bool
) -> None:
    fake = FakeRun(host_root)
    fake.stdout = f"podman version {release}\n"
    runner = NodeRunner(settings_for(host_root), run=fake)
    runner.podman_version()
    runner.pull(IMAGE)
    assert ("--retry" in fake.calls[-1]["argv"]) == retry


def test_missing_tool_on_the_node_is_command_not_found(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 127
    fake.stderr = "chroot: failed to run command 'skopeo': No such file or directory\n"
    with pytest.raises(CommandNotFound, match="skopeo") as caught:
        NodeRunner(settings_for(host_root), run=fake).inspect_manifest(IMAGE)
    assert str(host_root) in caught.value.message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


@pytest.mark.usefixtures("big_disk")  # whatever this machine has free
def test_chroot_refused_is_an_environment_error(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 125
    fake.stderr = (
        f"chroot: cannot change root directory to '{host_root}': Operation not permitted\n"
    )
    with pytest.raises(CheckEnvironmentError, match="Operation not permitted"):
        NodeRunner(settings_for(host_root), storage="node", run=fake).pull(IMAGE)


@pytest.mark.usefixtures("big_disk")
def test_podman_errors_are_results_not_exceptions(host_root: Path) -> None:
    fake = FakeRun(host_root)
    fake.exit_code = 125
    fake.stderr = (
        "Error: initializing source docker://quay.io/x: reading manifest: manifest unknown\n"
    )
    result = NodeRunner(settings_for(host_root), storage="node", run=fake).pull(IMAGE)
    assert result.exit_code == 125 and "manifest unknown" in result.stderr


def test_real_chroot_without_the_tool_is_command_not_found(tmp_path: Path) -> None:
    """The real chroot into a node that has no podman (needs root, as the agent does)."""
    empty_node = tmp_path / "node"
    (empty_node / "var" / "tmp").mkdir(parents=True)
    runner = NodeRunner(settings_for(empty_node), storage="node", timeout=30)
    with pytest.raises(CommandNotFound, match="journalctl") as caught:
        runner.crio_journal()
    assert "chroot" in caught.value.message
    assert runner.podman_version() is None


# ======================================================================================
# the scratch store around a pull


def test_not_enough_disk_space_is_refused_before_anything_runs(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = SimpleNamespace(total=10 * 1024**3, used=9 * 1024**3, free=1024**3, percent=90.0)
    asked: list[str] = []

    def disk_usage(path: str) -> SimpleNamespace:
        asked.append(path)
        return usage

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    fake = FakeRun(host_root)
    runner = NodeRunner(settings_for(host_root), run=fake, min_free_bytes=2 * 1024**3)
    with pytest.raises(CheckEnvironmentError) as caught:
        runner.pull(IMAGE)
    message = caught.value.message
    assert str(host_root / "var" / "tmp") in message and "/var/tmp" in message
    assert "1.00 GiB (1073741824 bytes) free" in message
    assert "2.00 GiB (2147483648 bytes) required" in message
    assert asked == [str(host_root / "var" / "tmp")]
    assert fake.calls == [] and scratch_dirs(host_root) == []


def test_missing_scratch_parent_is_an_environment_error(tmp_path: Path) -> None:
    fake = FakeRun(tmp_path)
    with pytest.raises(CheckEnvironmentError, match="does not exist"):
        NodeRunner(settings_for(tmp_path), run=fake).pull(IMAGE)
    assert fake.calls == []


@pytest.mark.parametrize(
    "error",
    [None, KeyboardInterrupt(), Terminated(), RuntimeError("boom"), CommandNotFound("chroot")],
    ids=["timed-out", "KeyboardInterrupt", "Terminated", "RuntimeError", "CommandNotFound"],
)
@pytest.mark.usefixtures("big_disk")
def test_scratch_is_removed_whatever_becomes_of_the_command(
    host_root: Path, error: Optional[BaseException]
) -> None:
    """A timeout is a result (``error`` None); what the command raises propagates."""
    fake = FakeRun(host_root)
    fake.during = lambda argv: (fake.scratch_on_agent_side(argv) / "root").mkdir()
    runner = NodeRunner(settings_for(host_root), run=fake)
    if error is None:
        fake.timed_out = True
        result = runner.pull(IMAGE)
        assert result.timed_out and result.exit_code is None
    else:
        fake.raise_ = error
        with pytest.raises(type(error)):
            runner.pull(IMAGE)
    assert len(fake.calls) == 1
    assert scratch_dirs(host_root) == []


def test_node_temp_file_is_in_the_scratch_folder(host_root: Path) -> None:
    runner = NodeRunner(settings_for(host_root), run=FakeRun(host_root))
    with runner.node_temp_file("[[registry]]\n") as node_path:
        assert node_path.startswith("/var/tmp/mirror-agent-") and node_path.endswith(".conf")
        assert (host_root / node_path.lstrip("/")).read_text() == "[[registry]]\n"
    assert scratch_dirs(host_root) == []


# ======================================================================================
# a real agent process stopped mid-pull


def test_sigterm_to_the_agent_stops_the_command_and_exits_143(short_tmp: Path) -> None:
    """The agent process gets SIGTERM while podman runs: no orphan, exit status 143."""
    scratch = short_tmp / "s"
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from agent.node.settings import NodeSettings
        from agent.process import run_command
        from agent.pull.runner import NodeRunner
        from agent.reference import parse_normalized

        def fake_run(argv, **kwargs):
            # a real long command in the middle of a scratch pull
            return run_command(["sh", "-c", "echo $$ >&2; sleep 300 & echo $! >&2; wait"],
                               timeout=120, on_stderr_line=lambda l: print(l, flush=True))

        Path({str(scratch)!r}).mkdir()
        settings = NodeSettings(host_root=Path("/"), auth_file=None, proxy_env={{}})
        runner = NodeRunner(settings, scratch_parent={str(scratch)!r}, run=fake_run,
                            min_free_bytes=0)  # whatever this machine has free
        runner.pull(parse_normalized("quay.io/x/y:1"))
        """
    )
    agent = subprocess.Popen(
        [PY, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        assert agent.stdout is not None and agent.stderr is not None
        first = agent.stdout.readline()
        if not first:
            raise AssertionError(agent.stderr.read())
        pids = [int(first), int(agent.stdout.readline())]
        scratch_dirs = list(scratch.iterdir())
        assert len(scratch_dirs) == 1 and scratch_dirs[0].name.startswith("mirror-agent-")
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode == 143, err
    assert wait_gone(pids, timeout=2.0) == []
    assert list(scratch.iterdir()) == []
