"""The code base stays ruff-clean and the core type-checks (pyproject.toml
holds both tools' settings)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def test_ruff_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "kaudit", "tests", "bench", "fixtures", "tools"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_core_clean() -> None:
    proc = subprocess.run([_tool("mypy"), "--cache-dir", "/dev/null", "kaudit"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
