"""What the agent needs from its node, said clearly: the node's root, privileges, a heartbeat."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.app import main
from agent.commands.check import CheckOptions
from agent.errors import ExitCode
from agent.node import preflight
from agent.node.heartbeat import HeartbeatFile
from agent.node.preflight import (
    CAP_SYS_ADMIN,
    CAP_SYS_CHROOT,
    HOST_ROOT_ENV,
    NodeAccessError,
    NodeFacts,
    effective_capabilities,
    node_root,
    problems,
)
from tests.unit.commands.fakes import SRC, FakeRunner, check, fixture, host_with, result
from tests.unit.commands.test_daemon import make_agent

ALL_CAPABILITIES = 0x000001FFFEFFFFFF  # a privileged container here (no CAP_SYS_RESOURCE)
PODMAN_DEFAULT = 0x00000000800405FB  # podman's default set: CAP_SYS_CHROOT, no CAP_SYS_ADMIN


def facts(root: Path, **changes: Any) -> NodeFacts:
    values: dict[str, Any] = {
        "root": root,
        "root_is_dir": True,
        "holds_node_config": True,
        "uid": 0,
        "capabilities": ALL_CAPABILITIES,
    }
    values.update(changes)
    return NodeFacts(**values)


# --- capabilities and the problems found --------------------------------------------------


def test_effective_capabilities_come_from_capeff() -> None:
    status = "Name:\tagent\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n"
    assert effective_capabilities(status) == ALL_CAPABILITIES
    assert effective_capabilities("Name:\tagent\n") is None
    assert effective_capabilities("CapEff:\tnot-hex\n") is None
    assert PODMAN_DEFAULT & (1 << CAP_SYS_CHROOT)
    assert not PODMAN_DEFAULT & (1 << CAP_SYS_ADMIN)


def test_a_privileged_root_with_the_node_mounted_has_no_problem() -> None:
    assert problems(facts(Path("/host"))) == []


def test_each_missing_piece_is_named_with_what_provides_it() -> None:
    host = Path("/host")
    (missing,) = problems(facts(host, root_is_dir=False, holds_node_config=False))
    assert missing.startswith("/host does not exist: the node's / is not mounted there")
    assert "DaemonSet" in missing and "oc debug node/" in missing

    (empty,) = problems(facts(host, holds_node_config=False))
    assert empty.startswith("/host does not hold a node's root filesystem (no /host/etc/")

    (unprivileged,) = problems(facts(host, capabilities=PODMAN_DEFAULT))
    assert unprivileged.startswith("the container is not privileged")
    assert "privileged: true" in unprivileged and "--privileged" in unprivileged

    (user,) = problems(facts(host, uid=1000))
    assert user.startswith("the agent runs as uid 1000, not root")

    # the capability mask cannot be read: nothing is claimed about it
    assert problems(facts(host, capabilities=None)) == []


def test_commands_that_only_read_files_need_no_privileges() -> None:
    unprivileged = facts(Path("/host"), uid=1000, capabilities=0)
    assert problems(unprivileged, privileged=False) == []
    assert len(problems(unprivileged)) == 2


# --- node_root: the image and outside it ---------------------------------------------------


def test_outside_the_image_the_root_is_unchanged(tmp_path: Path) -> None:
    def never(root: Path) -> NodeFacts:
        raise AssertionError("nothing is checked outside the image")

    assert node_root(tmp_path, privileged=True, env={}, look=never) == tmp_path


def test_in_the_image_the_root_is_the_mount_point(tmp_path: Path) -> None:
    env = {HOST_ROOT_ENV: str(tmp_path)}
    seen: list[Path] = []

    def look(root: Path) -> NodeFacts:
        seen.append(root)
        return facts(root)

    assert node_root(None, privileged=True, env=env, look=look) == tmp_path
    assert node_root(tmp_path / "x", privileged=True, env=env, look=look) == tmp_path / "x"
    assert seen == [tmp_path, tmp_path / "x"]  # --host-root is checked as well


def test_in_the_image_every_problem_is_one_line_and_exit_69(tmp_path: Path) -> None:
    env = {HOST_ROOT_ENV: "/host"}

    def look(root: Path) -> NodeFacts:
        return facts(root, root_is_dir=False, capabilities=PODMAN_DEFAULT)

    with pytest.raises(NodeAccessError) as caught:
        node_root(None, privileged=True, env=env, look=look)
    error = caught.value
    assert error.exit_code == ExitCode.ENVIRONMENT
    assert int(error.exit_code) == 69
    assert "\n" not in error.message and error.hint is None
    assert error.message.startswith("cannot work on the node: /host does not exist")
    assert "; the container is not privileged" in error.message
    # explain and config read files only: the mount point alone counts
    with pytest.raises(NodeAccessError) as only_files:
        node_root(None, privileged=False, env=env, look=look)
    (only_problem, _) = problems(look(Path("/host")))
    assert only_files.value.message == f"cannot work on the node: {only_problem}"
    assert node_root(
        None,
        privileged=False,
        env=env,
        look=lambda root: facts(root, capabilities=PODMAN_DEFAULT),
    ) == Path("/host")


def test_the_real_observation_of_a_folder(tmp_path: Path) -> None:
    seen = preflight.observe(tmp_path)
    assert (seen.root_is_dir, seen.holds_node_config) == (True, False)
    (tmp_path / "etc" / "containers").mkdir(parents=True)
    assert preflight.observe(tmp_path).holds_node_config
    assert not preflight.observe(tmp_path / "missing").root_is_dir


# --- the CLI in the image ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--image", SRC],
        ["run", "--node", "worker-0", "--image", SRC],
        ["config"],
        ["explain", SRC],
    ],
    ids=["check", "run", "config", "explain"],
)
def test_cli_in_the_image_without_the_node_says_so_in_one_line(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    missing = tmp_path / "host"
    monkeypatch.setenv(HOST_ROOT_ENV, str(missing))
    assert main(argv) == 69
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: cannot work on the node: {missing} does not exist")


def test_cli_in_the_image_unprivileged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    (tmp_path / "etc" / "containers").mkdir(parents=True)
    monkeypatch.setenv(HOST_ROOT_ENV, str(tmp_path))
    real = preflight.observe
    monkeypatch.setattr(
        preflight,
        "observe",
        lambda root: NodeFacts(**{**real(root).__dict__, "capabilities": PODMAN_DEFAULT}),
    )
    assert main(["check", "--image", SRC]) == 69
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: cannot work on the node: the container is not privileged")


def test_version(capsys: Any) -> None:
    from agent import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mirror-agent {__version__}\n"


# --- the heartbeat -------------------------------------------------------------------------


def test_heartbeat_failure_is_told_once_per_outage(tmp_path: Path) -> None:
    blocker = tmp_path / "run"
    blocker.write_text("a file where the folder should be")
    heartbeat = HeartbeatFile(blocker / "heartbeat")
    first = heartbeat.touch("t1\n")
    assert first is not None
    assert first.startswith(f"cannot write the heartbeat file {blocker / 'heartbeat'}: ")
    assert "liveness probe" in first
    assert heartbeat.touch("t2\n") is None  # told already
    blocker.unlink()
    assert heartbeat.touch("t3\n") is None
    assert (blocker / "heartbeat").read_text() == "t3\n"
    blocker.joinpath("heartbeat").unlink()
    blocker.rmdir()
    blocker.write_text("broken again")
    assert heartbeat.touch("t4\n") is not None  # a new outage is told again
    assert HeartbeatFile(None).touch("x") is None


def test_agent_run_logs_an_unwritable_heartbeat_once_loudly(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    agent, clock, out = make_agent(
        tmp_path, lambda report: None, heartbeat_file=blocker / "heartbeat", log_format="json"
    )
    for _ in range(3):
        agent.step()
        clock.now += 60
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    failed = [event for event in events if event["event"] == "heartbeat-failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error"
    assert str(blocker / "heartbeat") in failed[0]["error"]
    assert [event["event"] for event in events].count("check") == 1  # the checks went on


# --- "# method=pull": a full pull chosen per image under a manifest default ----------------


def test_a_pull_line_is_pulled_when_the_default_is_the_manifest(tmp_path: Path) -> None:
    runner = FakeRunner({SRC: result(fixture("first-mirror-down"))})
    report = check(
        runner,
        host_with(tmp_path, "first-mirror-down"),
        CheckOptions((SRC,), method="manifest", pull_images=(SRC,)),
    )
    assert runner.calls == [("pull", SRC, None)]
    assert report.method == "manifest"
    assert report.images[0].method == "pull"


def test_agent_run_reads_pull_lines_from_the_checks_file(tmp_path: Path) -> None:
    checks = tmp_path / "images.txt"
    other = SRC.replace("/src/hello", "/src/other")
    checks.write_text(f"{SRC}  # method=pull\n{other}\n")
    agent, _, _ = make_agent(
        tmp_path, lambda report: None, images=(), images_file=checks, method="manifest"
    )
    images, _ = agent.images()
    assert images == [SRC, other]
    assert agent.pull_images == (SRC,)
    assert agent.manifest_images == ()
