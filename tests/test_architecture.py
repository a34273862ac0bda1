"""The layers stay one-way: import-linter checks the contracts in .importlinter (no cycle, no import
upward, sinks apart from the routes), and no module imports another module's private name."""
import ast
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "xfinity_usage")
LINT = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def lint(cwd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=cwd)
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, capture_output=True, text=True, env=env)


def test_import_contracts_are_kept():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module, line, broken", [
    # an import cycle between two parts (reading -> history -> reading)
    ("reading.py", "from .history import store as _cycle\n", "No import cycle"),
    # an import upward: a source that reaches for the command line
    ("sources/usage.py", "from ..cli import runs as _upward\n", "Imports go one way"),
    # a sink that knows a route
    ("sinks/webhook.py", "from ..sources import session as _route\n", "A sink knows"),
])
def test_the_contracts_fail_on_a_broken_layout(tmp_path, module, line, broken):
    shutil.copytree(PACKAGE, tmp_path / "xfinity_usage", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, ".importlinter"), tmp_path)
    with open(tmp_path / "xfinity_usage" / module, "a") as f:
        f.write(line)
    done = lint(str(tmp_path))
    assert done.returncode == 1, done.stdout
    # the contract's name (wrapped on up to three lines) and its verdict
    assert re.search(re.escape(broken) + r"[^\n]*(\n[^\n]*){0,2}BROKEN", done.stdout), done.stdout


def private_imports(path: str) -> list:
    """``from x import _name`` and ``module._name`` uses of another module's private name in ``path``."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    modules = set()  # names bound to a module of the package by an import
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path}:{node.lineno}: imports {alias.name}")
                if node.level or (node.module or "").startswith("xfinity_usage"):
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xfinity_usage"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_name():
    found = []
    for folder, _, files in os.walk(PACKAGE):
        found += [hit for name in files if name.endswith(".py")
                  for hit in private_imports(os.path.join(folder, name))]
    assert found == []


def test_the_private_name_check_sees_both_forms(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from .reading import _private\nfrom . import retry\nretry._jitter(1)\n")
    assert len(private_imports(str(sample))) == 2
