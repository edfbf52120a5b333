"""The command line: options, calling the commands, choosing a renderer, exit codes.

The only package that imports typer. ``app`` holds the typer application and ``main``
(every error becomes a message and an exit code); ``options`` the options several commands
share; ``node``, ``daemon``, ``cluster`` and ``checklist`` the commands, which import the
work they call (``agent.commands``) only when they run; ``progress`` what they show while
they run.
"""
