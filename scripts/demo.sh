#!/usr/bin/env bash
# Set up the machine (system packages, .venv), then run the README demo against a
# self-contained local lab: real registries on loopback, a real podman pull.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py
