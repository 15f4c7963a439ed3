"""Shipped packs and profiles are validated here, once, instead of on every
run: the scanner trusts a shipped file whose content hash is in
kaudit/packs/trusted.json and validates anything else with jsonschema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from common import ROOT

from kaudit.catalog.rules import _load_pack, _normalise_bool_ops
from kaudit.catalog.validate import schema_problems
from kaudit.core import yamlio
from kaudit.core.errors import RuleError
from kaudit.packs import digest, is_trusted

SHIPPED = [*sorted((ROOT / "rules").glob("*.yaml")), *sorted((ROOT / "profiles").glob("*.yaml"))]


def test_manifest_is_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "trust_packs.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_file_is_schema_valid_and_trusted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tree = yamlio.load_yaml(path)
    schema = "rulepack" if path.parent.name == "rules" else "profile"
    if schema == "rulepack":
        _normalise_bool_ops(tree)    # as the pack loader does before validating
    assert schema_problems(tree, schema, str(path)) == []      # jsonschema, untrusted
    assert is_trusted(path.parent.name, path.name, text)


def test_an_edited_shipped_pack_is_validated_again(tmp_path: Path) -> None:
    original = (ROOT / "rules" / "os.yaml").read_text(encoding="utf-8")
    edited = original.replace("severity: critical", "severity: urgent", 1)
    assert edited != original and digest(edited) != digest(original)
    assert not is_trusted("rules", "os.yaml", edited)
    with pytest.raises(RuleError) as info:
        _load_pack(str(tmp_path / "os.yaml"), edited)
    assert "severity" in str(info.value) and "urgent" in str(info.value)
    # ...while the shipped text itself skips the schema check.
    assert _load_pack(str(ROOT / "rules" / "os.yaml"), original).rules


def test_rules_list_does_not_import_jsonschema() -> None:
    code = ("import sys\nfrom kaudit.cli.commands import cli\n"
            "try:\n    cli(['rules', 'list'], standalone_mode=False)\n"
            "finally:\n    print('jsonschema' in sys.modules, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stderr.strip().splitlines()[-1] == "False", proc.stderr
