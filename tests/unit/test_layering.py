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
    "agent/documents.py",
    "agent/vocabulary.py",
    "agent/kube/contract.py",
    *sorted(str(p.relative_to(AGENT.parent)) for p in (AGENT / "output").glob("*.py")),
    *sorted(str(p.relative_to(AGENT.parent)) for p in (AGENT / "checklist" / "items").glob("*.py")),
    "agent/checklist/version.py",
    "agent/registries/model.py",
    "agent/registries/decode.py",
    "agent/registries/toml_go.py",
    "agent/registries/repeated.py",
    "agent/registries/merge.py",
    "agent/registries/resolve.py",
    *sorted(str(path.relative_to(AGENT.parent)) for path in (AGENT / "pull" / "log").glob("*.py")),
    "agent/pull/judge.py",
    "agent/pull/commands.py",
    "agent/report.py",
    "agent/collect.py",
    "agent/commands/results.py",
    "agent/commands/checks_file.py",
    "agent/commands/auto.py",
    "agent/commands/journal.py",
    "agent/commands/analyze.py",
    "agent/plan/__init__.py",
    "agent/plan/model.py",
    "agent/plan/apply.py",
    "agent/plan/validate.py",
    "agent/plan/diff.py",
    "agent/plan/node_file.py",
]
IO_MODULES = {"os", "subprocess", "socket", "shutil", "pathlib", "requests", "psutil", "tempfile"}
# Which package may import typer, requests and subprocess, and the layers between the
# packages, are import contracts in pyproject.toml, checked by `lint-imports`.


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


def test_the_check_sees_imports() -> None:
    assert "typer" in imported_modules(AGENT / "cli" / "app.py")
    assert "os" in imported_modules(AGENT / "node" / "paths.py")
    assert "tomllib" in imported_modules(AGENT / "registries" / "toml_go.py")


def _exit_code_literals(path: Path) -> list[str]:
    """Where ``path`` ends the process with a number instead of an ExitCode: a literal in
    ``typer.Exit(...)``, ``sys.exit(...)``, ``SystemExit(...)``, or returned by ``main``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args:
            name = ast.unparse(node.func)
            if name.endswith(("Exit", "exit", "SystemExit")) and any(
                isinstance(child, ast.Constant) and isinstance(child.value, int)
                for child in ast.walk(node.args[0])
            ):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            for child in ast.walk(node):
                if isinstance(child, ast.Return) and isinstance(child.value, ast.Constant):
                    found.append(f"{path.name}:{child.lineno}: {ast.unparse(child)}")
    return found


@pytest.mark.parametrize("module", all_modules())
def test_exit_codes_come_from_the_exit_code_enum(module: str) -> None:
    assert _exit_code_literals(AGENT.parent / module) == []


def test_the_exit_code_check_sees_literals(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def main():\n    return 70\n\ndef run():\n    raise typer.Exit(143 if x else 130)\n"
    )
    assert sorted(_exit_code_literals(sample)) == [
        "sample.py:2: return 70",
        "sample.py:5: typer.Exit(143 if x else 130)",
    ]
