"""The layout reads as the pipeline (docs/architecture.md): no module imports a
stage that comes after its own, and every module is small enough to read in
one sitting."""

from __future__ import annotations

import ast

from common import ROOT

ORDER = ["core", "packs", "schema", "inventory", "collect", "facts", "catalog", "evaluate",
         "results", "report", "scan", "cli"]
MAX_LINES = 400


def _stage(module: str) -> str | None:
    if module == "kaudit.scan":
        return "scan"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def test_no_module_reaches_back_up_the_chain() -> None:
    bad = []
    for path in (ROOT / "kaudit").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = _stage(module)
        if own is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kaudit."):
                other = _stage(node.module or "")
                if other and ORDER.index(other) > ORDER.index(own):
                    bad.append(f"{module} imports {node.module}")
    assert not bad


def test_modules_are_small() -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "kaudit").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long


def test_every_stage_is_a_folder_named_in_the_architecture_doc() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for stage in ORDER:
        if stage != "scan":
            assert (ROOT / "kaudit" / stage).is_dir(), stage
            assert f"`{stage}/`" in doc, stage
