"""The wheel (a real `pip install .`, not editable) carries the rule packs,
profiles, schemas and the probe, and works from a directory outside the repo."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from common import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # Build from a copy so the test never writes build/ or *.egg-info into the checkout.
    src = base / "src"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard",
                            "-z"], check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        rel = Path(name.decode())
        if not (ROOT / rel).is_file():
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes((ROOT / rel).read_bytes())
    wheel_dir = base / "dist"
    subprocess.run([str(py), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir),
                    str(src)], check=True, timeout=600)
    wheels = list(wheel_dir.glob("kaudit-*.whl"))
    assert len(wheels) == 1
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheels[0])], check=True,
                   timeout=600)
    return env_dir


def test_wheel_lists_shipped_rules(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(installed / "bin" / "kaudit"), "rules", "list"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "os.swap-off" in out.stdout
    assert "network.cidrs-disjoint" in out.stdout


def test_wheel_scans_recorded_facts(installed: Path, tmp_path: Path) -> None:
    facts = ROOT / "fixtures" / "facts" / "lab-faulty.json"
    report = tmp_path / "r.json"
    out = subprocess.run([str(installed / "bin" / "kaudit"), "scan", "-p", "prod-ha",
                          "--facts", str(facts), "-r", f"json:{report}"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    doc = json.loads(report.read_text())
    assert doc["profile"] == "prod-ha"
    assert doc["summary"]["fail"] > 0
    assert {h["name"] for h in doc["hosts"]} == {"m01", "m02", "m03", "n01", "n02", "n03"}


def test_wheel_runs_as_module(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(installed / "bin" / "python"), "-m", "kaudit", "--version"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "0.1.0" in out.stdout


def test_every_package_is_listed_in_pyproject() -> None:
    """pyproject lists packages by name (the packs are mapped from the top
    level): a new subpackage that is not listed is missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "kaudit").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)


def test_python_dash_m_kaudit_runs_from_a_plain_checkout(tmp_path: Path) -> None:
    """A copy of the source tree, imported from the tree itself (the installed
    kaudit and its editable-install finder hidden), finds its shipped packs."""
    import shutil

    tree = tmp_path / "checkout"
    for part in ("kaudit", "rules", "profiles"):
        shutil.copytree(ROOT / part, tree / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    code = ("import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
            f"sys.path.insert(0, {str(tree)!r})\n"
            "import runpy, kaudit\n"
            f"assert kaudit.__file__.startswith({str(tree)!r}), kaudit.__file__\n"
            "sys.argv = ['kaudit', 'rules', 'list']\n"
            "runpy.run_module('kaudit', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "os.swap-off" in out.stdout


def test_wheel_ships_the_version_data(installed: Path, tmp_path: Path) -> None:
    code = ("from kaudit.packs import shipped\n"
            "d = shipped('rules').joinpath('k8s')\n"
            "print(sorted(p.name for p in d.iterdir() if p.name.startswith('1.')))\n"
            "print(d.joinpath('1.35', 'gates.txt').read_text().count(chr(10)))\n")
    out = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    minors, gates = out.stdout.splitlines()
    assert "'1.28'" in minors and "'1.36'" in minors
    assert int(gates) > 100
