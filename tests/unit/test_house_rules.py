"""The house rules that code review would otherwise have to catch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

QT_MODULES = ("PyQt6", "PyQt5", "PySide6", "PySide2", "pyqtgraph", "qtpy")
MAX_MODULE_LINES = 400


def _python_files(root: Path) -> list[Path]:
    return sorted((root / "rig").rglob("*.py"))


def test_rig_never_imports_qt(root: Path) -> None:
    offenders = []
    for path in _python_files(root):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path}:{node.lineno} {n}" for n in names if n.split(".")[0] in QT_MODULES
            ]
    assert offenders == []


def test_importing_the_controller_loads_no_qt(root: Path) -> None:
    code = (
        "import sys, rig.cli, rig.session.session, rig.session.cohort;"
        f"print([m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_modules_stay_small(root: Path) -> None:
    long = [
        f"{p.relative_to(root)}: {n} lines"
        for p in _python_files(root)
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_every_rig_subpackage_has_a_readme(root: Path) -> None:
    packages = [p.parent for p in (root / "rig").glob("*/__init__.py")]
    assert packages
    assert [p.name for p in packages if not (p / "README.md").is_file()] == []
