#!/usr/bin/env bash
# Set up, then run every check: ruff lint, ruff format, mypy, the import contracts, pytest (extra args go to
# pytest). Runs all of them even when one fails; exits non-zero if any failed.
# pytest's exit code 5 (no tests collected) counts as a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

failed=()

run() {
    local name="$1"
    shift
    echo "==> $name: $*"
    local status=0
    "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "==> $name failed (exit $status)"
        failed+=("$name")
    fi
    return 0
}

run "ruff check" .venv/bin/ruff check .
run "ruff format" .venv/bin/ruff format --check .
run "mypy" .venv/bin/mypy agent
run "import contracts" .venv/bin/lint-imports
run "pytest" .venv/bin/pytest "$@"

if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> FAILED: ${failed[*]}"
    exit 1
fi
echo "==> all checks passed"
