"""``python -m agent.cli``: the same as the ``agent`` console script."""

from agent.cli.app import run

run()
