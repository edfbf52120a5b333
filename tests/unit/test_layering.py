"""The architecture, enforced: pure logic stays free of I/O and of the CLI framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "agent"
PURE = [
    "agent/reference.py",
    "agent/errors.py",
    "agent/schema.py",
    "agent/kube/contract.py",
    *sorted(str(p.relative_to(AGENT.parent)) for p in (AGENT / "output").glob("*.py")),
    *sorted(str(p.relative_to(AGENT.parent)) for p in (AGENT / "checklist" / "items").glob("*.py")),
    "agent/checklist/version.py",
    "agent/registries/model.py",
    "agent/registries/decode.py",
    "agent/registries/merge.py",
    "agent/registries/resolve.py",
    *sorted(str(path.relative_to(AGENT.parent)) for path in (AGENT / "pull" / "log").glob("*.py")),
    "agent/pull/judge.py",
    "agent/pull/commands.py",
    "agent/report.py",
    "agent/collect.py",
    "agent/plan/__init__.py",
    "agent/plan/model.py",
    "agent/plan/apply.py",
    "agent/plan/validate.py",
    "agent/plan/diff.py",
    "agent/plan/node_file.py",
]
IO_MODULES = {"os", "subprocess", "socket", "shutil", "pathlib", "requests", "psutil", "tempfile"}
# Which module may import what: the CLI framework only in the CLI, HTTP only in the client.
ONLY_IN = {
    "typer": {"agent/cli.py", "agent/cli_plan.py"},
    "click": set(),
    "requests": {"agent/kube/client.py"},
    "subprocess": {"agent/process.py"},
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def all_modules() -> list[str]:
    return sorted(str(p.relative_to(AGENT.parent)) for p in AGENT.rglob("*.py"))


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_no_io(module: str) -> None:
    assert not imported_modules(AGENT.parent / module) & IO_MODULES


@pytest.mark.parametrize("module", all_modules())
def test_frameworks_stay_in_their_module(module: str) -> None:
    imports = imported_modules(AGENT.parent / module)
    for name, allowed in ONLY_IN.items():
        if name in imports:
            assert module in allowed, f"{module} imports {name}"


def test_the_check_sees_imports() -> None:
    assert "typer" in imported_modules(AGENT / "cli.py")
    assert "tomllib" in imported_modules(AGENT / "registries" / "decode.py")
