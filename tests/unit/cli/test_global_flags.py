"""kubectl users put -n, --context, --kubeconfig before the subcommand
(``kubectl mirror-agent -n x collect``): they reach the command that declares them."""

from __future__ import annotations

import typer

from agent.cli.app import app, main
from agent.cli.global_flags import move_cluster_flags

ROOT = typer.main.get_command(app)


def test_flags_before_the_command_go_after_it() -> None:
    assert move_cluster_flags(ROOT, ["-n", "x", "collect", "-o", "json"]) == [
        "collect", "-n", "x", "-o", "json",
    ]  # fmt: skip
    assert move_cluster_flags(ROOT, ["--context=c", "--kubeconfig", "k", "recheck"]) == [
        "recheck", "--context=c", "--kubeconfig", "k",
    ]  # fmt: skip


def test_a_nested_command_gets_them_and_root_flags_stay_in_front() -> None:
    args = ["-v", "--namespace", "m", "checklist", "pre-upgrade", "--to", "4.16"]
    assert move_cluster_flags(ROOT, args) == [
        "-v", "checklist", "pre-upgrade", "--namespace", "m", "--to", "4.16",
    ]  # fmt: skip


def test_the_reports_namespace_goes_where_reports_are_read() -> None:
    args = ["--reports-namespace", "r", "-n", "m", "collect", "-o", "json"]
    assert move_cluster_flags(ROOT, args) == [
        "collect", "--reports-namespace", "r", "-n", "m", "-o", "json",
    ]  # fmt: skip
    # recheck writes the checks ConfigMap and reads no report: it has no such option
    args = ["--reports-namespace", "r", "recheck"]
    assert move_cluster_flags(ROOT, args) == args


def test_left_alone_where_no_command_takes_them() -> None:
    for args in (
        ["collect", "-n", "x"],  # already after
        ["-n", "x", "explain"],  # explain has no namespace: click names the option
        ["-n", "x", "checklist"],  # a group, not a command
        ["-n"],
        ["-n", "x", "no-such-command"],
    ):
        assert move_cluster_flags(ROOT, args) == args


def test_main_accepts_the_flags_before_the_command(capsys) -> None:  # type: ignore[no-untyped-def]
    # collect ran (and named its missing file): the root did not refuse -n
    assert main(["-n", "mirrors", "collect", "--from-file", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent: no such file" in err and "No such option" not in err
    assert main(["-n", "x", "explain", "--image", "q.io/a:1"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_the_reports_namespace_before_a_command_that_reads_no_report_is_refused(
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """docs/commands.md: --reports-namespace moves to collect, run, checklist pre-upgrade and
    post-upgrade and plan only; before recheck or checklist cleanup it is an unknown option
    (exit 2), while -n still reaches them."""
    for command in (["recheck"], ["checklist", "cleanup"]):
        assert main(["--reports-namespace", "r", *command]) == 2
        assert "No such option: --reports-namespace" in capsys.readouterr().err
        assert main(["-n", "r", *command, "--help"]) == 0
        assert "--namespace" in capsys.readouterr().out
    assert main(["--reports-namespace", "r", "collect", "--from-file", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent: no such file" in err and "No such option" not in err
