"""``python -m agent``: the same as the ``agent`` console script."""

import sys

from agent.cli.app import main

sys.exit(main())
