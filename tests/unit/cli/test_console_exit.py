"""The ``agent`` console script (agent.cli.app.run): main's exit code, everything written
flushed, atexit handlers run (credential files are removed there), no module teardown."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, sys
atexit.register(lambda: print("atexit ran", flush=True))
sys.argv = ["agent", *sys.argv[1:]]
from agent.cli.app import run
run()
"""


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=60
    )


def test_the_console_script_exits_with_mains_code_after_the_atexit_handlers() -> None:
    done = agent("--version")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["mirror-agent 0.1.0", "atexit ran"]


def test_an_error_keeps_its_exit_code_and_message() -> None:
    done = agent("config", "--host-root", "/nonexistent/host")
    assert done.returncode == 2
    assert "--host-root /nonexistent/host: not a directory" in done.stderr
    assert done.stdout == "atexit ran\n"


def test_a_closed_stdout_gives_no_traceback() -> None:
    """``agent ... | head -1``: the reader is gone before everything is written (click
    reports that as exit 1, as it did before the console script left early)."""
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--help"],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert reader.stdin is not None
    reader.stdin.close()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
